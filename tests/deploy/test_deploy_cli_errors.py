"""Bad input to pull / export-template / train / search --device: one line on stderr naming the
value and the fix, exit code 2, no traceback, and no file or database created."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_cli


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> str:
    """A real, empty MLflow store (no registered models)."""
    import mlflow

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return f"sqlite:///{path}"


def template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.toml"
    path.write_text(text)
    return path


CASES = {
    "pull-not-a-uri": (
        lambda t, s: ["pull", "slimtune-mnist", "--out", t / "m.tflite", "--tracking-uri", s],
        "model 'slimtune-mnist' is not a model URI; use models:/NAME@ALIAS",
    ),
    "pull-unknown-alias": (
        lambda t, s: [
            "pull",
            "models:/slimtune-mnist@champion",
            "--out",
            t / "m.tflite",
            "--tracking-uri",
            s,
        ],
        "not found in sqlite:///",
    ),
    "pull-unknown-run": (
        lambda t, s: [
            "pull",
            "runs:/" + "0" * 32 + "/model",
            "--out",
            t / "m.tflite",
            "--tracking-uri",
            s,
        ],
        "not found in sqlite:///",
    ),
    "pull-missing-store": (
        lambda t, s: [
            "pull",
            "models:/m@champion",
            "--out",
            t / "m.tflite",
            "--tracking-uri",
            f"sqlite:///{t / 'none.db'}",
        ],
        "no such database",
    ),
    "pull-bad-format": (
        lambda t, s: [
            "pull",
            "models:/m@champion",
            "--out",
            t / "m",
            "--format",
            "onnx",
            "--tracking-uri",
            s,
        ],
        "'onnx' is not one of",
    ),
    "pull-keras-suffix": (
        lambda t, s: [
            "pull",
            "models:/m@champion",
            "--out",
            t / "m.h5",
            "--format",
            "keras",
            "--tracking-uri",
            s,
        ],
        "ending in .keras",
    ),
    "pull-out-is-folder": (
        lambda t, s: ["pull", "models:/m@champion", "--out", t, "--tracking-uri", s],
        "is a folder",
    ),
    "pull-bad-floor": (
        lambda t, s: [
            "pull",
            "models:/m@champion",
            "--out",
            t / "m.tflite",
            "--min-accuracy",
            "95",
            "--tracking-uri",
            s,
        ],
        "--min-accuracy 95.0: use a fraction between 0 and 1",
    ),
    "pull-no-calibration": (
        lambda t, s: [
            "pull",
            "models:/m@champion",
            "--out",
            t / "m.tflite",
            "--calibration-images",
            "0",
            "--tracking-uri",
            s,
        ],
        "--calibration-images 0",
    ),
    "template-unknown-model": (
        lambda t, s: ["export-template", "models:/m/3", "--out", t / "t.toml", "--tracking-uri", s],
        "not found",
    ),
    "train-missing-template": (
        lambda t, s: ["train", "--template", t / "none.toml", "--out", t / "o"],
        "cannot read it",
    ),
    "train-bad-template": (
        lambda t, s: [
            "train",
            "--template",
            template(t, "[config]\nblocks = []\n"),
            "--out",
            t / "o",
        ],
        "blocks = []: use a list of one or more block tables",
    ),
    "train-bad-seeds": (
        lambda t, s: ["train", "--template", template(t, ""), "--seeds", "0", "--out", t / "o"],
        "--seeds 0",
    ),
    "search-unknown-device": (
        lambda t, s: ["search", "--device", "toaster", "--out", t / "o"],
        "--device toaster: unknown device 'toaster'; use one of",
    ),
    "search-bad-device-file": (
        lambda t, s: [
            "search",
            "--device",
            template(t, 'name = "x"\nflash_bytes = 1\n'),
            "--out",
            t / "o",
        ],
        "missing key 'ram_bytes'",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(case, tmp_path, empty_store):
    make_args, expected = CASES[case]
    args = make_args(tmp_path, empty_store)
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slimtune: error: "), done.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
