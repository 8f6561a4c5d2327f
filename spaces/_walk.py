"""Footprint of an arbitrary built Keras model (a user's HyperModel), by a walk over its layers.

The same rules as `spaces.footprint` for slimtune's own blocks (spaces/_footprint.py), per layer:
- params: `count_params()` of the *deployed* network: each BatchNormalization right after a
  convolution or Dense folds into it (its 4 per-channel values become the bias the layer lacked,
  or nothing when it has one); a BatchNormalization anywhere else stays a per-channel scale and
  shift (2 per channel).
- weight_bytes_int8: 1 byte per weight, 4 per bias (int32); weight_bytes_fp32 = 4 * params.
- peak activation: the largest (inputs + output) element count of a layer at batch 1; a
  separable convolution is two layers (depthwise, then 1 x 1); Dropout-like layers, Input and a
  folded BatchNormalization are not layers at inference, and an activation right after a
  convolution, Dense, BatchNormalization or Add is fused into it (LiteRT does).
- macs: convolutions (grouped, depthwise and separable) and Dense; pooling, averaging, merges and
  activations do no multiply-accumulates.

The microcontroller's bytes (tflite_file_bytes, tflm_arena_bytes) are predicted for slimtune's
own blocks only (spaces/_tflm_cost.py): -1 here, so a budget on them refuses a HyperModel by name.

A layer the walk does not know (`UNKNOWN`): params stay exact, the other fields are -1 and
`ModelFootprint.unknown_layer` names it, so a budget that needs them can refuse by name instead of
guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slimtune.spaces._footprint import Footprint

if TYPE_CHECKING:
    import keras

UNKNOWN = -1
# Layers that do nothing at inference (or only reshape a view of the same elements in place).
_NO_OPS = (
    "InputLayer",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
)
_ACTIVATIONS = ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax")
_ELEMENTWISE = (
    "Rescaling",
    "Normalization",
    "ZeroPadding2D",
    "Cropping2D",
    "Flatten",
    "Reshape",
    "Permute",
    "MaxPooling2D",
    "AveragePooling2D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
)
_FUSES_ACTIVATION = (
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv1D",
    "Dense",
    "BatchNormalization",
    "Add",
)
_FOLDS_BATCH_NORM = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D", "Dense")


@dataclass(frozen=True)
class ModelFootprint:
    footprint: Footprint
    unknown_layer: str | None = None  # "name (Class)" of the first layer the walk does not know


class _Walk:
    def __init__(self) -> None:
        self.weights = self.biases = self.macs = self.peak = 0

    def layer(self, in_elements: int, out_elements: int) -> None:
        self.peak = max(self.peak, in_elements + out_elements)


def footprint_of_model(model: keras.Model) -> ModelFootprint:
    """The deployed footprint of built `model` (module docstring)."""
    walk = _Walk()
    unknown = None
    for layer in model.layers:
        kind = type(layer).__name__
        try:
            known = _visit(walk, layer, kind)
        except (AttributeError, TypeError, ValueError):
            known = False  # e.g. a layer used twice, or one with no single input
        if not known and unknown is None:
            unknown = f"{layer.name} ({kind})"
    params = _deployed_params(model)
    if unknown is not None:
        return ModelFootprint(
            Footprint(
                params=params,
                weight_bytes_fp32=4 * params,
                weight_bytes_int8=UNKNOWN,
                peak_activation_bytes_fp32=UNKNOWN,
                peak_activation_bytes_int8=UNKNOWN,
                macs=UNKNOWN,
            ),
            unknown,
        )
    if walk.weights + walk.biases != params:  # a layer's weights the rules above miss
        return ModelFootprint(
            Footprint(params, 4 * params, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN),
            f"{model.name} (weights the walk cannot place)",
        )
    return ModelFootprint(
        Footprint(
            params=params,
            weight_bytes_fp32=4 * params,
            weight_bytes_int8=walk.weights + 4 * walk.biases,
            peak_activation_bytes_fp32=4 * walk.peak,
            peak_activation_bytes_int8=walk.peak,
            macs=walk.macs,
        )
    )


def _deployed_params(model: keras.Model) -> int:
    """`count_params()` with every BatchNormalization folded (module docstring)."""
    params = model.count_params()
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        channels = _channels(layer)
        params -= 4 * channels
        producer = _producer(layer)
        if producer is None or type(producer).__name__ not in _FOLDS_BATCH_NORM:
            params += 2 * channels
        elif not producer.use_bias:
            params += channels
    return params


def _visit(walk: _Walk, layer: Any, kind: str) -> bool:
    """Add `layer` to `walk`; False if the walk does not know it."""
    if kind in _NO_OPS:
        return True
    ins = [_elements(t.shape) for t in _tensors(layer.input)]
    out_shape = layer.output.shape
    out = _elements(out_shape)
    if kind in ("Conv2D", "Conv1D"):
        kernel = math.prod(layer.kernel_size) * (int(layer.input.shape[-1]) // layer.groups)
        positions = out // layer.filters
        walk.weights += kernel * layer.filters
        walk.biases += layer.filters if layer.use_bias or _folded_into(layer) else 0
        walk.macs += positions * kernel * layer.filters
        walk.layer(sum(ins), out)
    elif kind == "DepthwiseConv2D":
        kernel = math.prod(layer.kernel_size)
        channels = int(out_shape[-1])
        walk.weights += kernel * channels
        walk.biases += channels if layer.use_bias or _folded_into(layer) else 0
        walk.macs += (out // channels) * kernel * channels
        walk.layer(sum(ins), out)
    elif kind == "SeparableConv2D":
        kernel = math.prod(layer.kernel_size)
        c_in = int(layer.input.shape[-1])
        mid = c_in * layer.depth_multiplier
        positions = out // layer.filters
        walk.weights += kernel * mid + mid * layer.filters
        walk.biases += layer.filters if layer.use_bias or _folded_into(layer) else 0
        walk.macs += positions * (kernel * mid + mid * layer.filters)
        walk.layer(sum(ins), positions * mid)
        walk.layer(positions * mid, out)
    elif kind == "Dense":
        n_in = int(layer.input.shape[-1])
        walk.weights += n_in * layer.units
        walk.biases += layer.units if layer.use_bias or _folded_into(layer) else 0
        walk.macs += (out // layer.units) * n_in * layer.units
        walk.layer(sum(ins), out)
    elif kind == "BatchNormalization":
        producer = _producer(layer)
        if producer is None or type(producer).__name__ not in _FOLDS_BATCH_NORM:
            walk.weights += 2 * _channels(layer)  # a scale and a shift per channel
            walk.layer(sum(ins), out)
    elif kind in _ACTIVATIONS:
        producer = _producer(layer)
        if producer is None or type(producer).__name__ not in _FUSES_ACTIVATION:
            walk.layer(sum(ins), out)
    elif kind in _ELEMENTWISE:
        if layer.count_params():
            return False  # e.g. an adapted Normalization: its statistics are not counted here
        walk.layer(sum(ins), out)
    else:
        return False
    return True


def _folded_into(layer: Any) -> bool:
    """Whether a BatchNormalization right after this bias-free layer folds into it (giving it a
    bias)."""
    outbound = getattr(layer, "_outbound_nodes", None) or []
    return any(type(node.operation).__name__ == "BatchNormalization" for node in outbound)


def _producer(layer: Any) -> Any:
    """The layer whose output is `layer`'s single input, or None."""
    tensors = _tensors(layer.input)
    if len(tensors) != 1:
        return None
    history = getattr(tensors[0], "_keras_history", None)
    return None if history is None else history[0]


def _channels(layer: Any) -> int:
    return int(layer.input.shape[layer.axis if isinstance(layer.axis, int) else layer.axis[0]])


def _tensors(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _elements(shape: Any) -> int:
    return math.prod(int(d) for d in shape[1:])
