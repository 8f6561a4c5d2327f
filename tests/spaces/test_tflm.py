"""The int8 file under TFLM (spaces/_tflm.py): the arena it really uses and its accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from slimtune.spaces import (
    TflmError,
    build_model,
    litert_accuracy,
    litert_bytes,
    preset,
    tflm_accuracy,
    tflm_arena_bytes,
)


@pytest.fixture(scope="module")
def int8_file() -> bytes:
    rng = np.random.default_rng(0)
    model = build_model(preset("paper-1x1"), (28, 28, 1), 10, deployed=True)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return litert_bytes(model, rng.random((4, 28, 28, 1), dtype=np.float32))


def test_the_measured_arena_is_enough_and_16_byte_aligned(int8_file):
    from tflite_micro.python.tflite_micro import runtime

    arena = tflm_arena_bytes(int8_file)
    assert arena % 16 == 0
    interpreter = runtime.Interpreter.from_bytes(int8_file, arena_size=arena)
    interpreter.set_input(np.zeros((1, 28, 28, 1), dtype=np.int8), 0)
    interpreter.invoke()  # runs in exactly the arena measured


def test_tflm_predicts_as_litert_does(int8_file):
    rng = np.random.default_rng(1)
    x, y = rng.random((200, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 200)
    assert tflm_accuracy(int8_file, x, y) == litert_accuracy(int8_file, x, y)


@pytest.mark.parametrize("damage", [lambda b: b[:1000], lambda b: b"\0" * 100])
def test_a_damaged_file_is_a_tflm_error(int8_file, damage):
    with pytest.raises(TflmError, match="TFLM cannot run the file"):
        tflm_arena_bytes(damage(int8_file))
