"""The microcontroller's bytes predicted before training (spaces/_tflm_cost.py, the Footprint's
tflite_file_bytes and tflm_arena_bytes) against the int8 file itself and TFLM's own arena.

Untrained models are enough: sizes do not depend on the trained values. Their weights are drawn
at random (biases included, as after training: the converter drops an all-zero dense bias), and
random images calibrate int8. About 0.5 s per conversion."""

from __future__ import annotations

import statistics

import numpy as np
import optuna
import pytest

from slimtune.spaces import (
    build_model,
    footprint,
    litert_bytes,
    load_space,
    presets,
    tflm_arena_bytes,
)

SHAPE, CLASSES = (28, 28, 1), 10


def spread_configs(count: int, seed: int = 3) -> list:
    """`count` buildable configurations drawn at random over the default space, fixed seed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space, configs = load_space(), []
    while len(configs) < count:
        config = space.suggest(study.ask())
        try:
            footprint(config, SHAPE, CLASSES)
        except ValueError:
            continue  # 'valid' blocks that do not fit 28 x 28
        configs.append(config)
    return configs


def test_predictions_bound_the_file_and_the_tflm_arena_from_above():
    rng = np.random.default_rng(0)
    calibration = rng.random((4, *SHAPE), dtype=np.float32)
    configs = spread_configs(30) + list(presets().values())
    over_arena, over_file = [], []
    for config in configs:
        model = build_model(config, SHAPE, CLASSES, deployed=True)
        model.set_weights(
            [rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()]
        )
        blob = litert_bytes(model, calibration)
        fp = footprint(config, SHAPE, CLASSES)
        arena, file_bytes = tflm_arena_bytes(blob), len(blob)
        label = (
            f"{config.summary()}: arena {fp.tflm_arena_bytes} predicted, {arena} measured; "
            f"file {fp.tflite_file_bytes} predicted, {file_bytes} measured"
        )
        assert arena <= fp.tflm_arena_bytes <= 1.10 * arena, label
        assert file_bytes <= fp.tflite_file_bytes <= 1.05 * file_bytes, label
        # The arena holds the activations the footprint counts, and never less.
        assert arena >= fp.peak_activation_bytes_int8
        over_arena.append(fp.tflm_arena_bytes / arena - 1)
        over_file.append(fp.tflite_file_bytes / file_bytes - 1)
    print(
        f"over-prediction, {len(configs)} models: arena max {max(over_arena):.2%} median "
        f"{statistics.median(over_arena):.2%}; file max {max(over_file):.2%} median "
        f"{statistics.median(over_file):.2%}"
    )


def test_the_walk_of_a_hypermodel_leaves_the_microcontroller_bytes_unpredicted():
    from slimtune.spaces import footprint_of_model, preset

    model = build_model(preset("paper-final"), SHAPE, CLASSES, deployed=True)
    walked = footprint_of_model(model).footprint
    assert walked.params == footprint(preset("paper-final"), SHAPE, CLASSES).params
    assert walked.tflite_file_bytes == walked.tflm_arena_bytes == -1


@pytest.mark.parametrize("name", sorted(presets()))
def test_footprint_round_trips_with_the_new_fields(name):
    from slimtune.spaces import Footprint

    fp = footprint(presets()[name], SHAPE, CLASSES)
    assert Footprint(**fp.to_dict()) == fp
    assert (
        fp.tflite_file_bytes > fp.weight_bytes_int8
        and fp.tflm_arena_bytes > fp.peak_activation_bytes_int8
    )
