"""A real authenticated MLflow (`mlflow server --app-name basic-auth` on 127.0.0.1): with the
right MLFLOW_TRACKING_USERNAME/PASSWORD a search records and registers; with a wrong password it
is refused in one line before anything is touched; the password is written nowhere."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from support.cli import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    from support.services import basic_auth_env, mlflow_server

    folder = tmp_path_factory.mktemp("auth")
    password = "pw-" + secrets.token_hex(12)  # MLflow wants at least 12 characters
    with mlflow_server(
        f"sqlite:///{folder / 'server.db'}",
        folder / "artifacts",
        env=basic_auth_env(folder, password),
        app_name="basic-auth",
    ) as uri:
        yield uri, password


# Models that learn in one epoch on 1,000 images, so a model is chosen and registered.
LEARNING_SPACE = """
blocks = 1
kernel_size = [3, 5]
filters = [6, 12]
pool = [2]
head = ["flatten"]
dense_units = [16, 32]
dense_optional = true
dropout = [0.0]
"""


@pytest.fixture(scope="module")
def learning_space(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "space.toml"
    path.write_text(LEARNING_SPACE)
    return path


def search(out: Path, mnist_dir: Path, space_file: Path, uri: str, password: str):
    # the least that records, confirms (on test directly) and registers
    return run_cli(
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space_file,
        "--trials",
        1,
        "--epochs",
        1,
        "--full-epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--workers",
        1,
        "--min-accuracy",
        0.2,
        "--confirm-candidates",
        1,
        "--recheck-size",
        0,
        "--out",
        out,
        "--study-name",
        "authed",
        "--model-name",
        "authed-model",
        env={
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": password,
        },
        timeout=600,
    )


def test_a_wrong_password_is_refused_in_one_line_before_anything_is_touched(
    tmp_path, mnist_dir, learning_space, auth_server
):
    uri, password = auth_server
    wrong = "wrong-" + secrets.token_hex(8)
    out = tmp_path / "out"
    started = time.monotonic()
    done = search(out, mnist_dir, learning_space, uri, wrong)
    assert time.monotonic() - started < 60  # the CLI's own start-up included, under load
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"slimtune: error: --tracking-uri {uri}: the MLflow server refused user 'admin' (HTTP "
        "401); set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of that "
        "server"
    ]
    assert wrong not in done.stdout + done.stderr
    assert not out.exists()


def test_the_right_password_records_and_registers_and_is_written_nowhere(
    tmp_path, mnist_dir, learning_space, auth_server, monkeypatch
):
    import mlflow

    uri, password = auth_server
    out = tmp_path / "out"
    done = search(out, mnist_dir, learning_space, uri, password)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("authed")
    runs = client.search_runs([experiment.experiment_id])
    assert sum(run.data.tags.get("slimtune.role") == "trial" for run in runs) == 1
    assert result["chosen"] is not None, result["message"]
    version = client.get_model_version_by_alias("authed-model", "champion")
    assert version.run_id == result["mlflow"]["confirmation_run_id"]
    # The password is nowhere: output, result.json, every file of the run folder (the spool and
    # the SQLite study included), and the params and tags of every run and of the model.
    assert password not in done.stdout + done.stderr
    leaks = [str(p) for p in out.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert not leaks
    for run in runs:
        recorded = json.dumps([run.data.params, run.data.tags])
        assert password not in recorded, run.info.run_name
    assert password not in json.dumps([version.tags, version.description])
