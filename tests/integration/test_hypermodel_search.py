"""`slimtune search --hypermodel`: a user's Keras Tuner HyperModel file (BatchNorm, a
SeparableConv2D, its own compile, a build that raises for some values) searched for real (local
Ray, Optuna on SQLite, a real `mlflow server`) through to the registry and `slimtune pull`."""

from __future__ import annotations

import json

import optuna
import pytest

from support.cli import run_cli

pytestmark = pytest.mark.integration

FLOOR = 0.3
USER_FILE = """
import keras


def build(hp):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(hp.Int("filters", 2, 6, step=2), 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    activation = hp.Choice("activation", ["relu", "tanh", "unlucky"])
    if activation == "unlucky":
        raise ValueError("no such activation")
    x = keras.layers.SeparableConv2D(hp.Int("separable_filters", 4, 16, sampling="log"), 3,
                                     activation=activation)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    if hp.Boolean("dropout"):
        x = keras.layers.Dropout(hp.Float("rate", 0.1, 0.3))(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 3e-3, 3e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy")
    return model
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from support.services import mlflow_server

    folder = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(f"sqlite:///{folder / 'server.db'}", folder / "artifacts") as uri:
        yield uri


@pytest.fixture(scope="module")
def searched(tmp_path_factory, mnist_dir, served):
    out = tmp_path_factory.mktemp("hypermodel")
    user_file = out / "user_models.py"
    user_file.write_text(USER_FILE)
    done = run_cli(
        "search",
        "--hypermodel",
        f"{user_file}:build",
        "--data-dir",
        mnist_dir,
        "--trials",
        3,
        "--epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--workers",
        2,
        "--min-accuracy",
        FLOOR,
        "--seed",
        0,
        "--out",
        out,
        "--study-name",
        "hm",
        "--model-name",
        "hm-model",
        "--tracking-uri",
        served,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out, user_file, json.loads((out / "result.json").read_text())


def test_the_hypermodel_is_searched_confirmed_and_registered(searched, served):
    import mlflow

    from slimtune.spaces import HyperModelConfig, build_config

    out, user_file, result = searched
    chosen = result["chosen"]
    assert chosen is not None, result["message"]
    assert chosen["config"]["hypermodel"] == f"{user_file}:build"
    assert chosen["worst_case_test_accuracy"] >= FLOOR
    # the footprint is the built model's: count_params with the BatchNorm folded into the
    # bias-free convolution before it (4 values per channel become its bias)
    model = build_config(HyperModelConfig.from_dict(chosen["config"]))
    filters = chosen["config"]["values"]["filters"]
    assert chosen["footprint"]["params"] == model.count_params() - 4 * filters + filters
    assert result["mlflow"]["registered_model_name"] == "hm-model"
    version = mlflow.MlflowClient(served).get_model_version_by_alias("hm-model", "champion")
    assert version.run_id == result["mlflow"]["confirmation_run_id"]


def test_a_build_that_raises_fails_its_trial_and_the_study_goes_on(searched):
    out, _, result = searched
    study = optuna.load_study(study_name="hm", storage=f"sqlite:///{out / 'optuna.db'}")
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed, "seed 0 is expected to draw 'unlucky' at least once"
    assert all(
        t.user_attrs["fail_reason"] == "build failed: build(hp) raised ValueError: no "
        "such activation"
        for t in failed
    )
    assert all(t.params["activation"] == "unlucky" for t in failed)
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == 3


def test_pull_exports_the_registered_hypermodel(searched, served, mnist_dir):
    out, _, result = searched
    target = out / "model.tflite"
    done = run_cli(
        "pull",
        "models:/hm-model@champion",
        "--format",
        "tflite-int8",
        "--out",
        target,
        "--tracking-uri",
        served,
        "--data-dir",
        mnist_dir,
        "--calibration-images",
        100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    int8_bytes = result["chosen"]["footprint"]["weight_bytes_int8"]
    # the analytic int8 weights are in the file (plus the flatbuffer's own tables)
    assert int8_bytes <= target.stat().st_size <= int8_bytes + 12_000
