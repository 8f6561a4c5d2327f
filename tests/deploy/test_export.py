"""The analytic int8 footprint used by the search (and by device budgets) against the size of the
int8 LiteRT file the converter really writes.

Tolerance: analytic <= file <= analytic + 2 KiB + 1 KiB per op + 32 bytes per output channel.
The footprint counts 1 byte per weight and 4 per (int32) bias, which the file holds exactly; the
file adds what the footprint leaves out: the flatbuffer tables and op codes, tensor names, the
signature, conversion metadata, 16-byte buffer alignment, and quantization parameters (a float32
scale and an int64 zero point per output channel for every per-channel weight and its bias, plus
one pair per activation tensor). Measured overhead on these configurations (`pytest -s`): 2.3-8.6
KB, about 40% of the bound; a file holding float32 weights would break it by megabytes on `wide`.
"""

from __future__ import annotations

import numpy as np
import pytest

from slimtune.deploy._export import tflite_bytes
from slimtune.spaces import CNNConfig, ConvBlock, build_model, footprint, preset

CONFIGS = {
    "tiny-gap": CNNConfig((ConvBlock(3, 1, 1),), "gap"),
    "paper-final": preset("paper-final"),
    "three-blocks-gap-dense": CNNConfig(
        (ConvBlock(3, 16, 1), ConvBlock(3, 32, 2), ConvBlock(3, 64, 2)), "gap", 64
    ),
    "wide": CNNConfig((ConvBlock(5, 32, 2), ConvBlock(5, 64, 2)), "flatten", 256),
    "separable-bn": CNNConfig(
        (ConvBlock(3, 4, 2), ConvBlock(3, 8, 2, separable=True)), "gap", batch_norm=True
    ),
}


def ops(config: CNNConfig) -> int:
    """TFLite ops: conv (two when separable) (+ pool) per block, flatten/GAP, the hidden dense,
    the classifier."""
    return (
        sum(1 + b.separable + (b.pool > 1) for b in config.blocks)
        + 1
        + bool(config.dense_units)
        + 1
    )


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize("name", CONFIGS)
def test_int8_file_size_matches_the_analytic_footprint(name, calibration):
    config = CONFIGS[name]
    fp = footprint(config, (28, 28, 1), 10)
    model = build_model(config, (28, 28, 1), 10, deployed=True)  # as `slimtune search` logs it
    int8_bytes = len(tflite_bytes(model, calibration))
    channels = sum(b.filters for b in config.blocks) + config.dense_units + 10
    print(
        f"{name}: int8 file {int8_bytes} B, analytic {fp.weight_bytes_int8} B, "
        f"overhead {int8_bytes - fp.weight_bytes_int8} B"
    )  # shown with pytest -s
    assert (
        fp.weight_bytes_int8
        <= int8_bytes
        <= (fp.weight_bytes_int8 + 2048 + 1024 * ops(config) + 32 * channels)
    ), (name, int8_bytes, fp)
    float_bytes = len(tflite_bytes(model))
    assert fp.weight_bytes_fp32 <= float_bytes <= fp.weight_bytes_fp32 + 2048 + 1024 * ops(config)


def test_int8_export_is_full_integer(calibration):
    from ai_edge_litert.interpreter import Interpreter

    blob = tflite_bytes(build_model(preset("paper-final"), (28, 28, 1), 10), calibration)
    interpreter = Interpreter(model_content=blob)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert dtypes <= {np.int8, np.int32}, dtypes  # int32: biases and shape operands
    # Pixels p in 0..255 map to int8 p - 128: scale 1/255, zero point -128.
    scale, zero_point = interpreter.get_input_details()[0]["quantization"]
    assert zero_point == -128 and scale == pytest.approx(1 / 255, rel=1e-3)


def user_models() -> dict:
    """Models a user's HyperModel might build (not slimtune's blocks): measured by the footprint
    walk (spaces.footprint_of_model), BatchNorm folded by the converter as by the walk."""
    import keras

    layers = keras.layers

    def bn_separable():
        inputs = keras.Input((28, 28, 1))
        x = layers.Conv2D(8, 3, use_bias=False)(inputs)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.SeparableConv2D(16, 3, activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dropout(0.2)(x)
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))

    def branches():
        inputs = keras.Input((28, 28, 1))
        a = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=8)(inputs)
        x = layers.Add()([a, b])
        x = layers.AveragePooling2D(2)(x)
        c = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
        c = layers.BatchNormalization()(c)
        x = layers.Concatenate()([x, c])
        x = layers.Flatten()(x)
        x = layers.Dense(32, activation="relu")(x)
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))

    return {"bn-separable": bn_separable, "branches": branches}


@pytest.mark.parametrize("name", ["bn-separable", "branches"])
def test_int8_file_size_matches_the_walk_on_user_models(name, calibration):
    from slimtune.spaces import footprint_of_model

    model = user_models()[name]()
    fp = footprint_of_model(model).footprint
    layers = len(model.layers)
    channels = sum(int(layer.output.shape[-1]) for layer in model.layers[1:])
    int8_bytes = len(tflite_bytes(model, calibration))
    print(
        f"{name}: int8 file {int8_bytes} B, walk {fp.weight_bytes_int8} B, "
        f"overhead {int8_bytes - fp.weight_bytes_int8} B"
    )
    assert (
        fp.weight_bytes_int8
        <= int8_bytes
        <= fp.weight_bytes_int8 + 2048 + 1024 * layers + 32 * channels
    ), (name, int8_bytes, fp)
