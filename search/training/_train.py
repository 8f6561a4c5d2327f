"""Which trainer runs a request, and `train_seeds`: a request spelled out as arguments (the form
the commands, the tests and the benchmarks use)."""

from __future__ import annotations

from typing import Any

from slimtune.search._data import Split
from slimtune.search.training._cpu import enable_onednn
from slimtune.search.training._generic import train_hypermodel_seeds
from slimtune.search.training._int8 import judge_int8
from slimtune.search.training._request import SeedsOutcome, Trainer, TrainingRequest
from slimtune.search.training._trainer import train_cnn_seeds
from slimtune.spaces import CNNConfig, HyperModelConfig, Recipe, config_from_dict


def run_training(
    request: TrainingRequest, train: Split, val: Split, held_out: Split | None = None
) -> SeedsOutcome:
    """Train `request` with the trainer of its kind of configuration: slimtune's fast trainer
    for its own blocks, plain Keras `fit` for a user's HyperModel; then, if asked, each seed's
    int8 file judged on the held-out split (either trainer's models: one conversion)."""
    enable_onednn()  # before TensorFlow loads, if this process has not loaded it yet
    trainer: Trainer = (
        train_hypermodel_seeds if isinstance(request.config, HyperModelConfig) else train_cnn_seeds
    )
    outcome = trainer(request, train, val, held_out)
    if request.int8_calibration is not None and held_out is not None and outcome.seed_models:
        judge_int8(outcome, held_out, request.int8_calibration)
    return outcome


def train_seeds(
    config: CNNConfig | HyperModelConfig | dict[str, Any],
    train: Split,
    val: Split,
    recipe: Recipe,
    seeds: list[int],
    test: Split | None = None,
    **options: Any,
) -> SeedsOutcome:
    """Train `config` once per seed on `train` and measure it on `val` (and `test`, if given).
    `options` are the other fields of `TrainingRequest` (`required_accuracy`, `promotion`,
    `curves`, `keep_model`, `every_model`, `pack`, `threads`, `kind`, `int8_calibration`).
    Raises TrainingFailed if a seed's loss becomes NaN or infinite."""
    if isinstance(config, dict):
        config = config_from_dict(config)
    return run_training(TrainingRequest(config, recipe, tuple(seeds), **options), train, val, test)
