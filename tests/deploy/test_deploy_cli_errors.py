"""Bad input to pull / export-template / train / search --device: one line on stderr naming the
value and the fix, exit code 2, no traceback, and no file or database created."""

from __future__ import annotations

import socket
import time
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


SECRET_URI = "http://admin:s3cr3t-pw@127.0.0.1:9"
PASSWORD_REFUSED = (
    "--tracking-uri http://admin:***@127.0.0.1:9: leave the password out of the URI and set "
    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
)
GOOD_TEMPLATE = "[config]\nblocks = [{kernel_size = 3, filters = 2}]\n"

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
    # A password in the tracking URI is refused as `slimtune search` refuses it: it would sit in
    # `ps` output and be echoed in messages and train.json.
    "pull-password-in-tracking-uri": (
        lambda t, s: [
            "pull",
            "models:/m@champion",
            "--out",
            t / "m.tflite",
            "--tracking-uri",
            SECRET_URI,
        ],
        PASSWORD_REFUSED,
    ),
    "template-password-in-tracking-uri": (
        lambda t, s: [
            "export-template",
            "models:/m@champion",
            "--out",
            t / "t.toml",
            "--tracking-uri",
            SECRET_URI,
        ],
        PASSWORD_REFUSED,
    ),
    "train-password-in-tracking-uri": (
        lambda t, s: [
            "train",
            "--template",
            template(t, GOOD_TEMPLATE),
            "--out",
            t / "o",
            "--tracking-uri",
            SECRET_URI,
        ],
        PASSWORD_REFUSED,
    ),
    "train-file-store": (
        lambda t, s: [
            "train",
            "--template",
            template(t, GOOD_TEMPLATE),
            "--out",
            t / "o",
            "--tracking-uri",
            (t / "mlruns").as_uri(),
        ],
        "(MLflow's file store is not supported)",
    ),
    # Unreachable is said as such, in seconds, before any training or look-up.
    "template-server-unreachable": (
        lambda t, s: [
            "export-template",
            "models:/m@champion",
            "--out",
            t / "t.toml",
            "--tracking-uri",
            "http://127.0.0.1:9",
        ],
        "--tracking-uri http://127.0.0.1:9: the MLflow server does not answer; start it",
    ),
    "train-server-unreachable": (
        lambda t, s: [
            "train",
            "--template",
            template(t, GOOD_TEMPLATE),
            "--out",
            t / "o",
            "--tracking-uri",
            "http://127.0.0.1:9",
        ],
        "--tracking-uri http://127.0.0.1:9: the MLflow server does not answer; start it",
    ),
    # Refused before anything is sent: a job's entrypoint is kept in the cluster's job table.
    "submit-password-in-storage": (
        lambda t, s: [
            "submit",
            "--address",
            "http://127.0.0.1:9",
            "--",
            "--storage",
            "postgresql://slimtune:s3cr3t-pw@db:5432/optuna",
        ],
        "--storage postgresql://slimtune:***@db:5432/optuna: a submitted job's command line is "
        "shown to anyone who can list the cluster's jobs",
    ),
    "submit-password-in-tracking-uri": (
        lambda t, s: ["submit", "--", f"--tracking-uri={SECRET_URI}"],
        "--tracking-uri http://admin:***@127.0.0.1:9: a submitted job's command line",
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
    assert "s3cr3t" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_pull_from_an_unreachable_server_says_so_within_seconds(tmp_path):
    """MLflow's client would retry a closed port for minutes and then call the model "not
    found"; the same probe as `slimtune search` says the server does not answer, at once."""
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{closed.getsockname()[1]}"
        started = time.monotonic()
        done = run_cli(
            "pull",
            "models:/x@champion",
            "--out",
            tmp_path / "m.tflite",
            "--tracking-uri",
            uri,
            timeout=60,
        )
    assert time.monotonic() - started < 20
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"slimtune: error: --tracking-uri {uri}: the MLflow server does not answer; start it "
        "(mlflow server ...) or point --tracking-uri / MLFLOW_TRACKING_URI at a running one"
    ]
    assert not list(tmp_path.iterdir())
