"""The footprint walk over an arbitrary built model: on slimtune's own blocks it equals the exact
formulas of spaces.footprint; on other models its params equal count_params with BatchNorm folded;
a layer it does not know is named, never guessed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slimtune.spaces import CNNConfig, ConvBlock, build_model, footprint, footprint_of_model, preset

OWN = [
    preset("paper-final"),
    CNNConfig(
        (ConvBlock(3, 4, 2), ConvBlock(5, 8, 1, "valid", separable=True)),
        "gap",
        16,
        0.5,
        batch_norm=True,
    ),
    CNNConfig((ConvBlock(3, 3, 2), ConvBlock(3, 6, 4, "valid")), "flatten", batch_norm=True),
    CNNConfig((ConvBlock(5, 2, 4),), "flatten", 32, 0.2),
]


@pytest.mark.parametrize("config", OWN, ids=lambda c: c.summary())
def test_the_walk_equals_the_formulas_on_slimtunes_own_blocks(config):
    trained = build_model(config, (28, 28, 1), 10)  # with BatchNorm layers: folded by the walk
    measured = footprint_of_model(trained)
    assert measured.unknown_layer is None
    # The microcontroller's bytes are predicted for slimtune's own configurations only.
    own = replace(footprint(config, (28, 28, 1), 10), tflite_file_bytes=-1, tflm_arena_bytes=-1)
    assert measured.footprint == own
    assert (
        measured.footprint.params
        == build_model(config, (28, 28, 1), 10, deployed=True).count_params()
    )


def branched_model():
    """Depthwise, separable without bias + BatchNorm, a standalone BatchNorm, Add, Concatenate,
    average pooling, a standalone activation and Dropout."""
    import keras

    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = layers.BatchNormalization()(inputs)  # not after a conv: a scale and shift per channel
    a = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    a = layers.BatchNormalization()(a)
    a = layers.ReLU()(a)
    b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    b = layers.Conv2D(8, 1)(b)
    x = layers.Add()([a, b])
    x = layers.AveragePooling2D(2)(x)
    x = layers.Activation("relu")(x)
    c = layers.SeparableConv2D(4, 3, padding="same", use_bias=False)(x)
    c = layers.BatchNormalization()(c)
    x = layers.Concatenate()([x, c])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def test_params_are_count_params_with_batch_norm_folded():
    model = branched_model()
    fp = footprint_of_model(model).footprint
    # input BN 4*3 -> 2*3; BN after the bias-free conv 4*8 -> 8; after the separable 4*4 -> 4
    assert fp.params == model.count_params() - (4 * 3 - 2 * 3) - (4 * 8 - 8) - (4 * 4 - 4)
    weights = 2 * 3 + 3 * 3 * 3 * 8 + 3 * 3 * 6 + 6 * 8 + 3 * 3 * 8 + 8 * 4 + 12 * 10
    biases = 8 + 6 + 8 + 4 + 10
    assert fp.params == weights + biases
    assert fp.weight_bytes_int8 == weights + 4 * biases
    assert (
        fp.macs
        == 256 * 3 * 3 * 3 * 8 + 256 * 3 * 3 * 6 + 256 * 6 * 8 + 64 * (3 * 3 * 8 + 8 * 4) + 12 * 10
    )
    # the largest layer: Add, two 16x16x8 maps in and one out
    assert fp.peak_activation_bytes_int8 == 3 * 256 * 8
    assert fp.peak_activation_bytes_fp32 == 4 * fp.peak_activation_bytes_int8


def test_an_unknown_layer_is_named_and_only_params_are_given():
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    measured = footprint_of_model(model)
    assert measured.unknown_layer == "norm (LayerNormalization)"
    assert measured.footprint.params == model.count_params()
    assert measured.footprint.macs == measured.footprint.weight_bytes_int8 == -1
