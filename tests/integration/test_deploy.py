"""From registry to device, against a real registry made by one tiny real search (local Ray, Optuna
and MLflow on SQLite): device budgets, `slimtune pull` in every format, the floor check, design
templates, `slimtune train`, and `mlflow models serve` answering real requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from support.cli import ROOT, TINY_SPACE, run_cli
from support.services import free_port
from support.sockets import beyond_loopback, listening

pytestmark = pytest.mark.integration

SPACE = TINY_SPACE
# Budgets chosen to split this space: with --seed 0 the sampler proposes c5x6-p4|flatten (a
# 7,110-byte int8 file predicted, 3,154 weight bytes) as trial 1, which this profile must prune
# untrained; c5x2-p4|flatten (4,938 bytes) fits.
DEVICE = """
name = "test-sensor"
description = "a made-up sensor for the tests"
flash_bytes = 7000
ram_bytes = 65536
macs = 1000000
"""
FLASH_BUDGET = 7000
FLOOR = 0.3
MODEL = "models:/slimtune-mnist@champion"


def pull_arrays(
    model: str,
    fmt: str,
    target: Path,
    tracking_uri: str,
    dataset: str,
    data_dir,
    calibration_images: int,
    val_size: int = 5000,
):
    """deploy.pull_model as `slimtune pull` calls it: the model located, the data loaded here."""
    from slimtune.deploy import calibration_rows, locate_pull, pull_model
    from slimtune.search import resolve_dataset

    source = locate_pull(model, fmt, target, tracking_uri)
    data = resolve_dataset(dataset, Path(data_dir) if data_dir else None)
    train, _ = data.train_val(val_size)
    calibration = (
        train.x[calibration_rows(len(train.x), calibration_images)].astype(np.float32) / 255.0
    )
    test = data.test()
    return pull_model(source, fmt, target, test.x, test.y, calibration, None, False, dataset)


@pytest.fixture(scope="session")
def champion(tmp_path_factory, mnist_dir) -> Path:
    """One tiny search under a device profile; its registry serves every test here."""
    out = tmp_path_factory.mktemp("deploy-search")
    (out / "space.toml").write_text(SPACE)
    (out / "device.toml").write_text(DEVICE)
    done = run_cli(
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        out / "space.toml",
        "--device",
        out / "device.toml",
        "--trials",
        5,
        "--epochs",
        1,
        "--train-subset",
        2000,
        "--seeds",
        2,
        "--workers",
        2,
        "--min-accuracy",
        FLOOR,
        "--learning-rate",
        0.01,
        "--schedule",
        "constant",
        "--seed",
        0,
        "--out",
        out,
        "--study-name",
        "deploy",
        "--tracking-uri",
        store(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["chosen"] is not None, result["message"]
    return out


def store(out: Path) -> str:
    return f"sqlite:///{out / 'mlflow.db'}"


def pull(out: Path, *args) -> subprocess.CompletedProcess:
    return run_cli("pull", *args, "--tracking-uri", store(out))


def test_device_profile_prunes_oversize_configs_before_training(champion):
    import optuna

    study = optuna.load_study(study_name="deploy", storage=f"sqlite:///{champion / 'optuna.db'}")
    over = [
        t for t in study.trials if t.user_attrs["footprint"]["tflite_file_bytes"] > FLASH_BUDGET
    ]
    assert over, "the profile should have pruned at least one configuration"
    for trial in over:
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert trial.user_attrs["prune_reason"].startswith("over budget: max_flash_bytes by")
        assert "val_accuracies" not in trial.user_attrs  # never trained
    within = [t for t in study.trials if t not in over]
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in within)
    assert not any(
        str(t.user_attrs.get("prune_reason", "")).startswith("over budget") for t in within
    )
    result = json.loads((champion / "result.json").read_text())
    assert result["chosen"]["footprint"]["tflite_file_bytes"] <= FLASH_BUDGET


def check_export(champion: Path, measured: dict, target: Path) -> None:
    """What every format must show: the registry version, the floor held, sizes and accuracies."""
    result = json.loads((champion / "result.json").read_text())
    version = result["mlflow"]["registered_model_version"]
    assert measured["model_uri"] == f"models:/slimtune-mnist/{version}"
    assert measured["floor"] == FLOOR and measured["passed"] is True
    assert measured["test_images"] == 10_000
    assert measured["exported_accuracy"] >= FLOOR
    assert measured["drop"] == pytest.approx(
        measured["float_accuracy"] - measured["exported_accuracy"]
    )
    size = (
        sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        if target.is_dir()
        else target.stat().st_size
    )
    assert measured["file_bytes"] == size
    assert (
        measured["analytic_weight_bytes_int8"] == result["chosen"]["footprint"]["weight_bytes_int8"]
    )
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_pull_int8_from_the_command_line(champion, tmp_path):
    target, report = tmp_path / "model.tflite", tmp_path / "report.json"
    done = pull(champion, MODEL, "--out", target, "--report", report)  # tflite-int8 by default
    assert done.returncode == 0, done.stderr
    measured = json.loads(report.read_text())
    check_export(champion, measured, target)
    assert measured["format"] == "tflite-int8" and measured["calibration_images"] == 500
    assert abs(measured["drop"]) <= 0.05  # int8 PTQ of a tiny CNN: tenths of a percent measured
    assert measured["file_bytes"] >= measured["analytic_weight_bytes_int8"]
    # The search judged this very file (same model, same calibration): the same test accuracy.
    chosen = json.loads((champion / "result.json").read_text())["chosen"]
    assert chosen["judge"] == "int8"
    registered = chosen["seeds"].index(chosen["registered_seed"])
    assert measured["exported_accuracy"] == chosen["int8_test_accuracies"][registered]
    # Run under TFLM too, and checked against the budgets the champion was searched under.
    assert measured["tflm_accuracy"] == pytest.approx(measured["exported_accuracy"], abs=0.002)
    assert measured["fits"] is True and measured["budget_misses"] == []
    assert measured["tflm_arena_bytes"] <= chosen["footprint"]["tflm_arena_bytes"]
    assert measured["file_bytes"] <= chosen["footprint"]["tflite_file_bytes"] <= FLASH_BUDGET
    for label in ("file bytes", "float accuracy", "exported accuracy", "drop", "holds the floor"):
        assert label in done.stdout
    # Written back: the numbers as tags of the version, the file in a run of its experiment.
    import mlflow

    client = mlflow.MlflowClient(store(champion))
    version = client.get_model_version_by_alias("slimtune-mnist", "champion")
    tags = {
        k.removeprefix("pull.tflite-int8."): v
        for k, v in version.tags.items()
        if k.startswith("pull.tflite-int8.")
    }
    assert int(tags["file_bytes"]) == measured["file_bytes"] and tags["passed"] == "true"
    assert int(tags["tflm_arena_bytes"]) == measured["tflm_arena_bytes"] and tags["fits"] == "true"
    assert float(tags["exported_accuracy"]) == pytest.approx(
        measured["exported_accuracy"], abs=1e-6
    )
    assert float(tags["drop"]) == pytest.approx(measured["drop"], abs=1e-6)
    run = client.get_run(tags["run_id"])
    assert run.info.experiment_id == client.get_run(version.run_id).info.experiment_id
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {"mnist-test", "mnist-training"}
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=tags["run_id"], artifact_path="export/model.tflite", tracking_uri=store(champion)
        )
    )
    assert local.read_bytes() == target.read_bytes()


@pytest.mark.parametrize(
    "fmt, name", [("tflite", "float.tflite"), ("keras", "model.keras"), ("saved_model", "saved")]
)
def test_pull_each_float_format(champion, tmp_path, mnist_dir, fmt, name):
    target = tmp_path / name
    measured = pull_arrays(MODEL, fmt, target, store(champion), "mnist", mnist_dir, 500).to_dict()
    check_export(champion, measured, target)
    assert abs(measured["drop"]) <= 0.002  # the same float math in another runtime
    if fmt == "saved_model":
        assert (target / "saved_model.pb").is_file()


def test_an_export_below_the_registered_floor_fails_and_writes_nothing(champion, tmp_path):
    import mlflow

    from slimtune.trackers import using_tracking_uri

    client = mlflow.MlflowClient(store(champion))
    champ = client.get_model_version_by_alias("slimtune-mnist", "champion")
    # The same model registered under another name, with a floor it cannot hold.
    with using_tracking_uri(store(champion)):  # MLflow resolves the logged model through it
        strict = mlflow.register_model(f"runs:/{champ.run_id}/model", "slimtune-strict")
    client.set_model_version_tag("slimtune-strict", strict.version, "floor", "0.999")
    target = tmp_path / "strict.tflite"
    done = pull(champion, f"models:/slimtune-strict/{strict.version}", "--out", target)
    assert done.returncode == 4, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("slimtune: error: tflite-int8 export of models:/slimtune-strict/")
    assert "below the registered floor 0.999" in message and "--allow-below-floor" in message
    assert not target.exists() and list(tmp_path.iterdir()) == []
    done = pull(
        champion,
        f"models:/slimtune-strict/{strict.version}",
        "--out",
        target,
        "--allow-below-floor",
    )
    assert done.returncode == 0, done.stderr
    assert target.stat().st_size > 0 and "kept because of --allow-below-floor" in done.stdout


def test_an_export_over_its_device_budgets_fails_and_writes_nothing(champion, tmp_path):
    """The champion carries the budgets it was searched under; pull measures the file and the
    TFLM arena against them."""
    import mlflow

    from slimtune.trackers import using_tracking_uri

    client = mlflow.MlflowClient(store(champion))
    champ = client.get_model_version_by_alias("slimtune-mnist", "champion")
    assert champ.tags["budget.max_flash_bytes"] == str(FLASH_BUDGET)
    with using_tracking_uri(store(champion)):
        tight = mlflow.register_model(f"runs:/{champ.run_id}/model", "slimtune-tight")
    client.set_model_version_tag("slimtune-tight", tight.version, "budget.max_ram_bytes", "100")
    target = tmp_path / "tight.tflite"
    done = pull(champion, f"models:/slimtune-tight/{tight.version}", "--out", target)
    assert done.returncode == 4, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert "does not fit the device budgets it was searched under (TFLM arena " in message
    assert "bytes > max_ram_bytes 100)" in message and "nothing written" in message
    assert not target.exists()


def test_template_round_trips_and_trains_on_new_data_like_a_trial(champion, tmp_path, mnist_dir):
    import mlflow

    from slimtune.deploy._template import DesignTemplate
    from slimtune.spaces import Recipe

    template_path = tmp_path / "template.toml"
    done = run_cli(
        "export-template", MODEL, "--out", template_path, "--tracking-uri", store(champion)
    )
    assert done.returncode == 0, done.stderr
    template = DesignTemplate.from_toml(template_path)
    result = json.loads((champion / "result.json").read_text())
    assert template.config.to_dict() == result["chosen"]["config"]
    # as the champion was trained: confirmed (and registered) with the full recipe, 4 x --epochs
    assert template.recipe == Recipe(
        epochs=4, batch_size=128, learning_rate=0.01, schedule="constant"
    )
    assert template.floor == FLOOR
    assert (
        template.source == f"models:/slimtune-mnist/{result['mlflow']['registered_model_version']}"
    )

    # "New data": a folder dataset (the .npz layout) holding other MNIST images.
    from slimtune.search._data import resolve

    train, val = resolve("mnist", mnist_dir).train_val()
    test = resolve("mnist", mnist_dir).test()
    data = tmp_path / "digits"
    data.mkdir()
    np.savez(
        data / "digits.npz",
        x_train=np.concatenate([train.x[-3000:], val.x[:1000]])[..., 0],
        y_train=np.concatenate([train.y[-3000:], val.y[:1000]]),
        x_test=test.x[:500, ..., 0],
        y_test=test.y[:500],
    )
    out = tmp_path / "train"
    done = run_cli(
        "train",
        "--template",
        template_path,
        "--dataset",
        data,
        "--val-size",
        1000,
        "--seeds",
        2,
        "--seed",
        3,
        "--out",
        out,
        "--tracking-uri",
        store(out),
    )
    assert done.returncode == 0, done.stderr
    trained = json.loads((out / "train.json").read_text())
    assert trained["seeds"] == [3000, 3001] and len(trained["val_accuracies"]) == 2
    assert trained["worst_case_val_accuracy"] == min(trained["val_accuracies"]) > 0.1
    assert trained["dataset"] == str(data) and trained["experiment"] == "slimtune-train-digits"
    client = mlflow.MlflowClient(store(out))
    run = client.get_run(trained["run_id"])
    assert run.data.tags["slimtune.role"] == "trial"
    assert run.data.tags["mlflow.parentRunId"] == trained["parent_run_id"]
    assert {"kernel_size_0", "filters_0", "head"} <= set(run.data.params)
    assert run.data.metrics["worst_case_val_accuracy"] == trained["worst_case_val_accuracy"]
    assert (
        run.data.metrics["weight_bytes_int8"] == result["chosen"]["footprint"]["weight_bytes_int8"]
    )
    parent = client.get_run(trained["parent_run_id"]).data.params
    assert (parent["epochs"], parent["learning_rate"]) == ("4", "0.01")
    # The trained run's model is what `slimtune pull` takes next (no floor: reported, not enforced).
    target = tmp_path / "retrained.tflite"
    measured = pull_arrays(
        trained["model_uri"], "tflite-int8", target, store(out), str(data), None, 200, val_size=1000
    )
    assert measured.passed is None and measured.floor is None and measured.test_images == 500
    assert target.stat().st_size == measured.file_bytes


def test_mlflow_serves_the_champion(champion, mnist_dir):
    from slimtune.search._data import resolve

    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store(champion),
        # mlflow starts its server as `uvicorn ...` from PATH: the venv's bin must be on it.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            MODEL,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, "mlflow models serve exited"
                assert time.monotonic() < deadline, "mlflow models serve did not start"
                time.sleep(0.5)
        # README's serve command binds 127.0.0.1: nothing of its process tree listens beyond it.
        seen = listening(server.pid)
        assert seen and not beyond_loopback(seen), sorted(seen)
        test = resolve("mnist", mnist_dir).test()
        images = test.x[:64].astype(np.float32) / 255.0
        body = json.dumps({"inputs": {"image": images.tolist()}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        scores = np.asarray(answer["predictions"])
        assert scores.shape == (64, 10)
        assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)  # softmax outputs
        from slimtune.deploy._registry import load_keras_model, locate

        local = load_keras_model(locate(MODEL, store(champion))).predict(images, verbose=0)
        assert (scores.argmax(axis=1) == local.argmax(axis=1)).all()
        assert np.mean(scores.argmax(axis=1) == test.y[:64]) >= FLOOR - 0.1
    finally:
        os.killpg(server.pid, 15)  # its own session: the uvicorn child goes too
        server.wait(timeout=30)


def test_a_corrupt_or_foreign_registered_artifact_is_one_line_exit_2(
    tmp_path, mnist_dir, monkeypatch
):
    """A registry version whose Keras file was damaged in the artifact store, and one that is not
    a Keras model at all: `slimtune pull` names the model and the cause in one line, exit 2, and
    writes nothing."""
    import keras
    import mlflow
    import mlflow.pyfunc
    import mlflow.tracking.fluent

    # This test plays a user of MLflow's fluent API: its active experiment (a process-wide
    # setting) must not outlive it, or later tests resuming runs of other stores by id fail.
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    artifacts = tmp_path / "artifacts"
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment("damaged", artifact_location=artifacts.as_uri())
    )
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    with mlflow.start_run():
        mlflow.keras.log_model(model, name="model", registered_model_name="corrupt")

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model", python_model=Constant(), registered_model_name="foreign"
        )
    stored = [p for p in artifacts.rglob("*.keras") if p.is_file()]
    assert stored, "the Keras file was not found in the artifact store"
    for path in stored:  # as a disk error or a half-finished copy would leave it
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    for name in ("corrupt", "foreign"):
        target = tmp_path / f"{name}.keras"
        done = run_cli(
            "pull",
            f"models:/{name}/1",
            "--format",
            "keras",
            "--out",
            target,
            "--data-dir",
            mnist_dir,
            "--tracking-uri",
            uri,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"models:/{name}/1" in lines[0] and "cannot load it as a Keras model" in lines[0]
        assert not target.exists()
