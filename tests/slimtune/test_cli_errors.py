"""Bad input: one line on stderr naming the value and the fix, exit code 2, no traceback, and the
existing study, runs and files untouched."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from support.cli import run_cli
from support.data import make_dataset

STUDY = "existing"


@pytest.fixture(scope="module")
def existing_out(tmp_path_factory) -> Path:
    """An output folder holding a real Optuna study, a real MLflow store and a result.json."""
    import mlflow
    import optuna

    out = tmp_path_factory.mktemp("existing")
    study = optuna.create_study(
        study_name=STUDY,
        storage=f"sqlite:///{out / 'optuna.db'}",
        directions=["maximize", "minimize"],
    )
    study.add_trial(optuna.trial.create_trial(values=[0.9, 100]))
    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    run = client.create_run(client.create_experiment(STUDY))
    client.set_terminated(run.info.run_id)
    (out / "result.json").write_text('{"kept": true}')
    return out


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def bad_space(tmp_path: Path, line: str) -> str:
    path = tmp_path / "space.toml"
    path.write_text(line + "\n")
    return str(path)


def broken_data(tmp_path: Path, how: str) -> str:
    folder = make_dataset(tmp_path / "data")
    if how == "missing":
        (folder / "train-images-idx3-ubyte.gz").unlink()
    else:
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b corrupt")
    return str(folder)


def user_models(tmp_path: Path) -> Path:
    """A HyperModel file whose model takes 32x32 colour images with 5 classes (not MNIST's)."""
    path = tmp_path / "user_models.py"
    path.write_text(
        "import keras\n\n\ndef build(hp):\n"
        "    inputs = keras.Input((32, 32, 3))\n"
        "    x = keras.layers.GlobalAveragePooling2D()(inputs)\n"
        "    return keras.Model(inputs, keras.layers.Dense(5)(x))\n"
    )
    return path


def secret_toml(tmp_path: Path, mode: int) -> str:
    path = tmp_path / "study.toml"
    path.write_text('storage = "postgresql://slimtune:s3cr3t@127.0.0.1:9/optuna"\n')
    path.chmod(mode)
    return str(path)


CASES = [
    (
        "min-accuracy-high",
        lambda t: ["--min-accuracy", "1.5"],
        r"--min-accuracy 1.5: use a fraction",
    ),
    ("min-accuracy-negative", lambda t: ["--min-accuracy", "-0.1"], r"--min-accuracy -0.1"),
    ("trials-zero", lambda t: ["--trials", "0"], r"--trials 0: use a whole number of 1 or more"),
    ("seeds-zero", lambda t: ["--seeds", "0"], r"--seeds 0: use a whole number"),
    ("epochs-zero", lambda t: ["--epochs", "0"], r"--epochs 0: use a whole number"),
    (
        "full-epochs-short",
        lambda t: ["--epochs", "5", "--full-epochs", "3"],
        r"--full-epochs 3: use at least --epochs \(5\)",
    ),
    ("workers-zero", lambda t: ["--workers", "0"], r"--workers 0: use a whole number"),
    (
        "unknown-dataset",
        lambda t: ["--dataset", "imagenet-nope"],
        r"--dataset 'imagenet-nope': no such folder",
    ),
    (
        "data-missing-file",
        lambda t: ["--dataset", broken_data(t, "missing")],
        r"missing file train-images-idx3-ubyte",
    ),
    (
        "data-corrupt-file",
        lambda t: ["--dataset", broken_data(t, "corrupt")],
        r"t10k-images-idx3-ubyte.gz: unreadable",
    ),
    (
        "space-kernel-2",
        lambda t: ["--space", bad_space(t, "kernel_size = 2")],
        r"'kernel_size' = 2",
    ),
    ("space-filters-0", lambda t: ["--space", bad_space(t, "filters = 0")], r"'filters' = 0"),
    (
        "space-unknown-key",
        lambda t: ["--space", bad_space(t, "colour = 3")],
        r"unknown space key 'colour'",
    ),
    (
        "storage-malformed",
        lambda t: ["--storage", "not a url"],
        r"--storage not a url: use an RDB URL",
    ),
    ("storage-unknown-db", lambda t: ["--storage", "mongodb://x/y"], r"--storage mongodb://x/y"),
    ("size-objective", lambda t: ["--size-objective", "flops"], r"flops"),
    (
        "trials-not-a-number",
        lambda t: ["--trials", "many"],
        r"Invalid value for '--trials'.*integer",
    ),
    (
        "config-unknown-key",
        lambda t: ["--config", bad_space(t, "speed = 3")],
        r"--config .*unknown key 'speed'",
    ),
    (
        "config-not-toml",
        lambda t: ["--config", bad_space(t, "trials = [")],
        r"--config .*not valid TOML.*fix its syntax",
    ),
    (
        "config-wrong-type",
        lambda t: ["--config", bad_space(t, "trials = 'ten'")],
        r"--config .*trials = 'ten' should be int",
    ),
    (
        "config-bad-value",
        lambda t: ["--config", bad_space(t, "min-accuracy = 2.0")],
        r"--min-accuracy 2.0: use a fraction",
    ),
    (
        "config-missing",
        lambda t: ["--config", str(t / "nope.toml")],
        r"--config .*nope.toml: cannot read it",
    ),
    ("space-not-toml", lambda t: ["--space", bad_space(t, "blocks = [")], r"not valid TOML"),
    (
        "space-missing",
        lambda t: ["--space", str(t / "nope.toml")],
        r"space file .*nope.toml: cannot read it",
    ),
    (
        "space-pool-3",
        lambda t: ["--space", bad_space(t, "pool = [3]")],
        r"'pool' = 3: expected one or more of \[1, 2, 4\]",
    ),
    ("data-empty-folder", lambda t: ["--dataset", str(t)], r"missing file train-images"),
    (
        "learning-rate-zero",
        lambda t: ["--learning-rate", "0"],
        r"--learning-rate 0.0: use a positive",
    ),
    ("max-params-zero", lambda t: ["--max-params", "0"], r"--max-params 0"),
    ("seeds-too-many", lambda t: ["--seeds", "101"], r"--seeds 101: use at most 100"),
    (
        "timeout-zero",
        lambda t: ["--timeout", "0"],
        r"--timeout 0.0: use a number of seconds above 0",
    ),
    ("max-retries-negative", lambda t: ["--max-retries", "-1"], r"--max-retries -1: use 0 or more"),
    ("sampler-unknown", lambda t: ["--sampler", "cmaes"], r"'cmaes' is not one of"),
    (
        "log-models-unknown",
        lambda t: ["--log-models", "best"],
        r"--log-models best: use one of all, front, confirmed$",
    ),
    (
        "tracking-uri-password",
        lambda t: ["--tracking-uri", "http://u:s3cr3t@127.0.0.1:9"],
        r"^(?!.*s3cr3t).*--tracking-uri http://u:\*\*\*@127.0.0.1:9: leave the password out",
    ),
    (
        "tracking-server-down",
        lambda t: ["--tracking-uri", "http://127.0.0.1:9"],
        r"--tracking-uri http://127.0.0.1:9: the MLflow server does not answer",
    ),
    (
        "ray-address-unreachable",
        lambda t: ["--ray-address", "127.0.0.1:9"],
        r"--ray-address 127.0.0.1:9: no Ray cluster answers there; start it first",
    ),
    (
        "ray-client-unreachable",
        lambda t: ["--ray-address", "ray://127.0.0.1:9"],
        r"--ray-address ray://127.0.0.1:9: no Ray cluster answers there",
    ),
    (
        "hypermodel-no-module",
        lambda t: ["--hypermodel", "no_such_module_xyz:build"],
        r"--hypermodel no_such_module_xyz:build: no module named 'no_such_module_xyz'; put",
    ),
    (
        "hypermodel-wrong-shape",
        lambda t: ["--hypermodel", f"{user_models(t)}:build"],
        r"--hypermodel .*: the model takes \(32, 32, 3\) and has 5 outputs, but the data are "
        r"images of \(28, 28, 1\) with 10 classes",
    ),
    (
        "hypermodel-and-space",
        lambda t: ["--hypermodel", "m:build", "--space", "s.toml"],
        r"--hypermodel m:build: give either --space or --hypermodel, not both",
    ),
    (
        "tracking-uri-file-store",
        lambda t: ["--tracking-uri", "file:///tmp/mlruns"],
        r"--tracking-uri file:///tmp/mlruns: use sqlite:///PATH/mlflow.db or an MLflow server's",
    ),
    (
        "ray-address-malformed",
        lambda t: ["--ray-address", "nonsense"],
        r"--ray-address nonsense: use 'auto', HOST:PORT",
    ),
    (
        "storage-password-on-the-command-line",
        lambda t: ["--storage", "postgresql://slimtune:s3cr3t@127.0.0.1:9/optuna"],
        r"^(?!.*s3cr3t).*--storage postgresql://slimtune:\*\*\*@127.0.0.1:9/optuna: leave the "
        r"password off the command line \(ps and the Ray job table show it\); set PGPASSWORD "
        r"or put it in ~/.pgpass, or write the URL as storage in a study TOML only you can read",
    ),
    (
        "storage-password-in-a-toml-others-may-read",
        lambda t: ["--config", secret_toml(t, 0o644)],
        r"^(?!.*s3cr3t).*--config .*study.toml: it holds the storage password "
        r"\(postgresql://slimtune:\*\*\*@127.0.0.1:9/optuna\) but others may read it "
        r"\(mode 644\); make it yours alone with chmod 600",
    ),
    (
        "storage-password-hidden",
        lambda t: ["--storage", "mongodb://u:s3cr3t@x/y"],
        r"^(?!.*s3cr3t).*--storage mongodb://u:\*\*\*@x/y",
    ),
]


@pytest.mark.parametrize("name, args, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(
    existing_out, mnist_dir, tmp_path, name, args, message
):
    before = snapshot(existing_out)
    done = run_cli(
        "search",
        "--out",
        existing_out,
        "--study-name",
        STUDY,
        "--data-dir",
        mnist_dir,
        "--trials",
        "1",
        *args(tmp_path),
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(existing_out) == before


def test_bad_input_is_found_before_any_folder_or_download(tmp_path):
    """A fresh user without a local MNIST: a bad space file is reported (not a failed download),
    a missing --dataset path is named as missing, and no --out folder is created either way."""
    home = tmp_path / "home"  # no ~/.keras cache: resolving MNIST would download it
    home.mkdir()
    env = {"HOME": str(home), "SLIMTUNE_DATA_DIR": "", "KERAS_HOME": str(home / ".keras")}
    out = tmp_path / "out"
    done = run_cli("search", "--out", out, "--space", "/etc/passwd", env=env, timeout=120)
    assert done.returncode == 2 and "/etc/passwd" in done.stderr and "MNIST" not in done.stderr
    missing = run_cli("search", "--out", out, "--dataset", "/nonexistent", env=env, timeout=120)
    assert missing.returncode == 2
    assert "--dataset '/nonexistent': no such folder: the path does not exist" in missing.stderr
    assert not out.exists() and not (home / ".keras").exists()


def test_held_out_sizes_are_checked_before_the_out_folder_is_created(tmp_path, mnist_dir):
    out = tmp_path / "out"
    done = run_cli(
        "search", "--out", out, "--data-dir", mnist_dir, "--val-size", "60000", timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "slimtune: error: --val-size 60000 does not fit 60000 training images; use a value "
        "between 1 and 59999"
    ]
    assert not out.exists()


def test_unwritable_out_is_refused(tmp_path, mnist_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run_cli("search", "--out", blocker / "out", "--data-dir", mnist_dir, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"slimtune: error: --out {blocker / 'out'}: {blocker} is a file, not a folder; choose a "
        "folder you can write to"
    ]
    assert not (blocker.parent / "out").exists()


def test_changed_recipe_on_resume_is_refused_and_study_untouched(tmp_path, mnist_dir):
    import optuna

    out = tmp_path / "out"
    out.mkdir()
    storage = f"sqlite:///{out / 'optuna.db'}"
    study = optuna.create_study(
        study_name="s", storage=storage, directions=["maximize", "minimize"]
    )
    study.set_user_attr("slimtune.identity", {"dataset": "mnist"})
    shutil.copy(out / "optuna.db", tmp_path / "copy.db")
    done = run_cli(
        "search",
        "--out",
        out,
        "--study-name",
        "s",
        "--data-dir",
        mnist_dir,
        "--train-subset",
        "100",
        timeout=120,
    )
    assert done.returncode == 2
    assert "study 's' in sqlite" in done.stderr and "choose a new --study-name" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (out / "optuna.db").read_bytes() == (tmp_path / "copy.db").read_bytes()


def test_space_command_prints_presets():
    done = run_cli("space", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "3,274,634" in done.stdout and "14,014" in done.stdout


def test_help_is_fast_and_lists_commands():
    done = run_cli("--help", timeout=30)
    assert done.returncode == 0
    for command in ("search", "space", "evaluate"):
        assert command in done.stdout


def test_report_of_no_finished_search_is_one_line_exit_2(existing_out, tmp_path):
    """`slimtune report` needs the --out of a finished search: a missing folder, and a folder
    whose result.json is not a search's, are named with the fix; no HTML is written."""
    before = snapshot(existing_out)
    for out, message in (
        (tmp_path / "missing", "no such folder"),
        (
            existing_out,
            "result.json is not a slimtune search result; run "
            f"slimtune search --out {existing_out}",
        ),
    ):
        done = run_cli("report", tmp_path / "report.html", "--out", out, timeout=120)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"slimtune: error: --out {out}: {message}")
    assert not (tmp_path / "report.html").exists()
    assert snapshot(existing_out) == before


def test_an_unexpected_error_is_one_line_with_the_traceback_in_a_file(monkeypatch, mnist_dir):
    """A failure nobody anticipated (here a library raising inside `evaluate`) is one line and
    exit code 1, naming the error and a file that holds the whole traceback."""
    from slimtune import search
    from support.cli import run_cli_in_process

    def broken(*args, **kwargs):
        raise RuntimeError("the library broke\nin two lines")

    monkeypatch.setattr(search, "resolve_dataset", broken)
    code, _, stderr = run_cli_in_process("evaluate", "--preset", "paper-final", "--seeds", "1")
    lines = stderr.strip().splitlines()
    assert code == 1 and len(lines) == 1, stderr
    assert "Traceback" not in stderr
    match = re.fullmatch(
        r"slimtune: error: unexpected RuntimeError: the library broke \(the "
        r"traceback is in (\S+); please report it\)",
        lines[0],
    )
    assert match, lines[0]
    saved = Path(match.group(1)).read_text()
    assert "Traceback" in saved and "in two lines" in saved and "evaluate --preset" in saved
    Path(match.group(1)).unlink()
