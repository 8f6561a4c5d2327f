"""Keras model for a CNNConfig. TensorFlow/Keras are imported only when a model is built."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spaces._config import CNNConfig

if TYPE_CHECKING:
    import keras


def build_model(config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int,
                dtype: str | None = None) -> keras.Model:
    """Uncompiled Keras model; inputs are float32 images scaled to [0, 1].

    `dtype` is a Keras dtype policy for every layer but the classifier (e.g. "mixed_bfloat16"
    for training); the classifier always computes in float32 so the softmax and the loss stay
    exact. The weights are float32 under every policy, so they copy into a default model.
    """
    import keras

    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, block in enumerate(config.blocks):
        x = layers.Conv2D(block.filters, block.kernel_size, padding=block.padding,
                          activation="relu", name=f"conv{i}", dtype=dtype)(x)
        if block.pool > 1:
            x = layers.MaxPooling2D(block.pool, padding=block.padding, name=f"pool{i}",
                                    dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x) if config.head == "flatten" else \
        layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    if config.dense_units:
        x = layers.Dense(config.dense_units, activation="relu", name="hidden", dtype=dtype)(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name="dropout", dtype=dtype)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes",
                           dtype=None if dtype is None else "float32")(x)
    return keras.Model(inputs, outputs, name="slimtune_cnn")
