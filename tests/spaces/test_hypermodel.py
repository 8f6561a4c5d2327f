"""A Keras Tuner HyperModel as a search space: every hp kind and a conditional branch translated to
Optuna distributions and back, and a drawn point rebuilding exactly its model."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from slimtune.spaces import (
    BuildFailed,
    HyperModelConfig,
    HyperModelError,
    HyperModelSpace,
    build_config,
    hyperparameters,
    load_build,
    search_space,
)

HYPERMODEL = """
import keras
import keras_tuner as kt


def build(hp):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(hp.Int("filters", 2, 8, step=2), 3)(inputs)
    if hp.Boolean("batch_norm"):
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation(hp.Choice("activation", ["relu", "tanh"]))(x)
    x = keras.layers.Flatten()(x)
    head = hp.Choice("head", ["plain", "hidden"])
    if head == "hidden":  # a define-by-run branch: only reached when chosen
        x = keras.layers.Dense(hp.Int("units", 4, 64, sampling="log"))(x)
        x = keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1))(x)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("width", 2, 32, step=2, sampling="log")
    hp.Fixed("optimizer", "adam")
    with hp.conditional_scope("head", ["plain"]):  # Keras Tuner's own condition
        hp.Float("scale", 0.5, 2.0)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


class Tunable(kt.HyperModel):
    def build(self, hp):
        return build(hp)


def broken(hp):
    if hp.Int("n", 1, 2) == 2:
        raise ValueError("two is too many")
    return build(hp)


def unshaped(hp):
    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(3)])
"""


@pytest.fixture(scope="module")
def module_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("hm") / "user_models.py"
    path.write_text(HYPERMODEL)
    return path


def test_every_hp_kind_and_both_branches_translate_to_optuna(module_file):
    space = search_space(f"{module_file}:build")
    assert space == {
        "filters": IntDistribution(2, 8, step=2),
        "batch_norm": CategoricalDistribution([False, True]),
        "activation": CategoricalDistribution(["relu", "tanh"]),
        "head": CategoricalDistribution(["plain", "hidden"]),
        "units": IntDistribution(4, 64, log=True),  # found in the branch "hidden" opens
        "dropout": FloatDistribution(0.0, 0.5, step=0.1),
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "width": CategoricalDistribution([2, 4, 8, 16, 32]),  # a log step multiplies
        "optimizer": None,  # hp.Fixed: set, never sampled
        "scale": FloatDistribution(0.5, 2.0),
    }


@pytest.mark.parametrize("name", ["build", "Tunable"])
def test_an_optuna_proposal_builds_exactly_its_model(module_file, name):
    spec = f"{module_file}:{name}"
    space = HyperModelSpace(spec)
    fixed = {
        "filters": 6,
        "batch_norm": True,
        "activation": "tanh",
        "head": "hidden",
        "units": 16,
        "dropout": 0.2,
        "lr": 0.01,
        "width": 8,
    }
    config = space.suggest(optuna.trial.FixedTrial(fixed))
    # the inactive branch ("scale", under head == "plain") is never sampled
    assert config.value_dict == fixed | {"optimizer": "adam"}
    assert HyperModelConfig.from_dict(config.to_dict()) == config
    model = build_config(HyperModelConfig.from_dict(config.to_dict()))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "Conv2D",
        "BatchNormalization",
        "Activation",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert model.layers[1].filters == 6 and model.layers[5].units == 16
    assert config.footprint.params == model.count_params() - 4 * 6 + 2 * 0  # BN folded (bias kept)
    # and back: the values as Keras Tuner HyperParameters
    assert hyperparameters(config.value_dict).values == config.value_dict


def test_a_real_study_samples_only_active_parameters(module_file):
    space = HyperModelSpace(f"{module_file}:build")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(6):
        trial = study.ask()
        config = space.suggest(trial)
        assert set(trial.params) == set(config.value_dict) - {"optimizer"}
        assert ("units" in trial.params) == (config.value_dict["head"] == "hidden")
        assert ("scale" in trial.params) == (config.value_dict["head"] == "plain")
        study.tell(trial, 0.0)


def test_a_build_that_raises_fails_that_proposal_only(module_file):
    space = HyperModelSpace(f"{module_file}:broken")
    with pytest.raises(BuildFailed, match="ValueError: two is too many") as caught:
        space.suggest(optuna.trial.FixedTrial({"n": 2}))
    assert caught.value.values == {"n": 2}
    fixed = {
        "n": 1,
        "filters": 2,
        "batch_norm": False,
        "activation": "relu",
        "head": "plain",
        "lr": 0.01,
        "width": 2,
        "scale": 1.0,
    }
    assert space.suggest(optuna.trial.FixedTrial(fixed)).value_dict["n"] == 1
    with pytest.raises(BuildFailed, match="without an input shape; start it with keras.Input"):
        HyperModelSpace(f"{module_file}:unshaped").suggest(optuna.trial.FixedTrial({}))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'"),
        ("missing.py:build", "no file missing.py"),
        ("just_a_name", "expected MODULE:NAME"),
        ("{file}:nothing", "has no 'nothing'"),
    ],
)
def test_a_hypermodel_that_does_not_load_is_named(module_file, spec, message):
    with pytest.raises(HyperModelError, match=message):
        load_build(spec.format(file=module_file))
