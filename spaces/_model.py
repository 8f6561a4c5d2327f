"""Keras models for a CNNConfig: the network as trained, and as deployed (BatchNorm folded).
TensorFlow/Keras are imported only when a model is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slimtune.spaces._config import CNNConfig

if TYPE_CHECKING:
    import keras

MODEL_NAME = "slimtune_cnn"
# A deployed model whose convolutions trained with BatchNorm (folded into them) carries this
# name, so the configuration read back from it (deploy.config_from_model) trains the same way.
MODEL_NAME_BATCH_NORM = "slimtune_cnn_bn"


def build_model(
    config: CNNConfig,
    input_shape: tuple[int, int, int],
    num_classes: int,
    dtype: str | None = None,
    deployed: bool = False,
) -> keras.Model:
    """Uncompiled Keras model; inputs are float32 images scaled to [0, 1].

    The model as trained: with `config.batch_norm` each convolution (without bias) is followed
    by BatchNormalization, then ReLU. `deployed=True` builds the inference network instead:
    convolutions with bias and ReLU, no BatchNorm (`deployed_model` fills it from a trained
    one); without batch_norm both are the same network.

    `dtype` is a Keras dtype policy for every layer but the classifier (e.g. "mixed_bfloat16"
    for training); the classifier always computes in float32 so the softmax and the loss stay
    exact. The weights are float32 under every policy, so they copy into a default model.
    """
    import keras

    layers = keras.layers
    normalised = config.batch_norm and not deployed
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, block in enumerate(config.blocks):
        conv = layers.SeparableConv2D if block.separable else layers.Conv2D
        x = conv(
            block.filters,
            block.kernel_size,
            padding=block.padding,
            activation=None if normalised else "relu",
            use_bias=not normalised,
            name=f"conv{i}",
            dtype=dtype,
        )(x)
        if normalised:
            x = layers.BatchNormalization(name=f"bn{i}", dtype=dtype)(x)
            x = layers.ReLU(name=f"relu{i}", dtype=dtype)(x)
        if block.pool > 1:
            x = layers.MaxPooling2D(
                block.pool, padding=block.padding, name=f"pool{i}", dtype=dtype
            )(x)
    x = (
        layers.Flatten(name="flatten", dtype=dtype)(x)
        if config.head == "flatten"
        else layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    )
    if config.dense_units:
        x = layers.Dense(config.dense_units, activation="relu", name="hidden", dtype=dtype)(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name="dropout", dtype=dtype)(x)
    outputs = layers.Dense(
        num_classes,
        activation="softmax",
        name="classes",
        dtype=None if dtype is None else "float32",
    )(x)
    name = MODEL_NAME_BATCH_NORM if config.batch_norm and deployed else MODEL_NAME
    return keras.Model(inputs, outputs, name=name)


def deployed_model(
    config: CNNConfig, trained: keras.Model, input_shape: tuple[int, int, int], num_classes: int
) -> keras.Model:
    """The float32 inference network of `trained` (a `build_model` model of `config`, any dtype
    policy): each BatchNorm folded into the convolution before it, w' = w * s and
    b' = beta - mean * s with s = gamma / sqrt(variance + epsilon). Same outputs, fewer layers;
    its `count_params()` is `spaces.footprint(...).params`."""
    import numpy as np

    plain = build_model(config, input_shape, num_classes, deployed=True)
    source = {layer.name: layer for layer in trained.layers}
    for layer in plain.layers:
        weights = source[layer.name].get_weights()
        if layer.name.startswith("conv") and config.batch_norm:
            weights = _fold(weights, source["bn" + layer.name[4:]])
        if weights:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return plain


def _fold(conv_weights: list[Any], batch_norm: Any) -> list[Any]:
    """Kernel(s) and bias of a bias-free convolution followed by `batch_norm`, folded. For a
    separable convolution the scale goes into the pointwise kernel (its last weight)."""
    import numpy as np

    gamma, beta, mean, variance = (
        np.asarray(w, dtype=np.float64) for w in batch_norm.get_weights()
    )
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    *kernels, last = [np.asarray(w, dtype=np.float64) for w in conv_weights]
    return kernels + [last * scale, beta - mean * scale]
