"""Keras model for a CNNConfig. TensorFlow/Keras are imported only when a model is built."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spaces._config import CNNConfig

if TYPE_CHECKING:
    import keras


def build_model(config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """Uncompiled Keras model; inputs are float32 images scaled to [0, 1]."""
    import keras

    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, block in enumerate(config.blocks):
        x = layers.Conv2D(block.filters, block.kernel_size, padding=block.padding,
                          activation="relu", name=f"conv{i}")(x)
        if block.pool > 1:
            x = layers.MaxPooling2D(block.pool, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x) if config.head == "flatten" else \
        layers.GlobalAveragePooling2D(name="gap")(x)
    if config.dense_units:
        x = layers.Dense(config.dense_units, activation="relu", name="hidden")(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="slimtune_cnn")
