"""Exact footprint of a CNNConfig, computed before any training.

Formulas (batch 1, the layer order of `spaces.build_model`):
- padding: a block's padding ('same' or 'valid') applies to its convolution and its pooling.
- params: conv k*k*c_in*f + f; separable conv k*k*c_in (depthwise) + c_in*f + f (pointwise and
  its bias); dense n_in*n_out + n_out. These are *deployed* parameters: BatchNorm (CNNConfig
  .batch_norm) folds into the convolution before it at export (`spaces.deployed_model`), so it
  adds nothing. Equals Keras ``count_params()`` of the deployed model.
- weight_bytes_fp32 = 4 * params.
- weight_bytes_int8 = 1 byte per weight + 4 bytes per bias (int32 biases, as in TFLite full-integer
  quantization; per-tensor scales and zero points are not counted).
- peak_activation_bytes_{fp32,int8}: the largest (input + output) activation element count over the
  layers (conv, pool, flatten/global-average-pool, dense) times 4 or 1 bytes. Dropout is a no-op at
  inference and is not a layer here.
- a separable convolution is two layers (depthwise to c_in maps, then 1 x 1 to f) for the peak.
- macs: multiply-accumulates of conv (H_out*W_out*k*k*c_in*f; separable H_out*W_out*(k*k*c_in +
  c_in*f)) and dense (n_in*n_out) layers; pooling
  and global averaging do comparisons/additions only and are not counted.
- tflite_file_bytes, tflm_arena_bytes: what a microcontroller really needs for the int8 file
  (`spaces.litert_bytes`): its size in flash, and the TensorFlow Lite Micro arena that runs it
  (activations as TFLM plans them, plus its persistent tensors, nodes and kernel data). Upper
  bounds from the converter's op graph (spaces/_tflm_cost.py), at most 5% and 10% above what
  `spaces.tflm_arena_bytes` and the file measure; -1 where they cannot be predicted (a
  HyperModel's layers, or a record written before they existed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from slimtune.spaces._config import CNNConfig
from slimtune.spaces._tflm_cost import tflm_costs

UNPREDICTED = -1


@dataclass(frozen=True)
class Footprint:
    params: int
    weight_bytes_fp32: int
    weight_bytes_int8: int
    peak_activation_bytes_fp32: int
    peak_activation_bytes_int8: int
    macs: int
    tflite_file_bytes: int = UNPREDICTED
    tflm_arena_bytes: int = UNPREDICTED

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def footprint(config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int) -> Footprint:
    """Footprint of `config` on inputs of `input_shape` (H, W, C) with `num_classes` outputs.

    Raises ValueError when a 'valid' convolution does not fit the feature map, or for a separable
    block of kernel_size 1.
    """
    height, width, channels = input_shape
    weights = biases = macs = 0
    peak_elements = 0

    def layer(in_elements: int, out_elements: int) -> None:
        nonlocal peak_elements
        peak_elements = max(peak_elements, in_elements + out_elements)

    for block in config.blocks:
        k = block.kernel_size
        if block.separable and k == 1:
            # A 1 x 1 depthwise convolution only scales each channel, and under TensorFlow's
            # oneDNN it breaks the convolutions of every later model in the process ("could not
            # create a primitive descriptor for the reorder primitive"): never built.
            raise ValueError("a separable block needs kernel_size > 1")
        in_elements = height * width * channels
        if block.padding == "valid":
            height, width = height - k + 1, width - k + 1
            if height < 1 or width < 1:
                raise ValueError(
                    f"kernel_size {k} with padding 'valid' does not fit the feature map"
                )
        pixels = height * width
        if block.separable:
            layer(in_elements, pixels * channels)
            layer(pixels * channels, pixels * block.filters)
            weights += k * k * channels + channels * block.filters
            macs += pixels * (k * k * channels + channels * block.filters)
        else:
            layer(in_elements, pixels * block.filters)
            weights += k * k * channels * block.filters
            macs += pixels * k * k * channels * block.filters
        biases += block.filters
        channels = block.filters
        if block.pool > 1:
            in_elements = height * width * channels
            # The block's padding applies to its pooling too: 'same' rounds up (a map never
            # shrinks to zero), 'valid' drops the ragged edge as Keras does.
            rounding = math.ceil if block.padding == "same" else math.floor
            height, width = rounding(height / block.pool), rounding(width / block.pool)
            if height < 1 or width < 1:
                raise ValueError(
                    f"pool {block.pool} with padding 'valid' does not fit the feature map"
                )
            layer(in_elements, height * width * channels)

    features = height * width * channels if config.head == "flatten" else channels
    layer(height * width * channels, features)
    for units in ([config.dense_units] if config.dense_units else []) + [num_classes]:
        layer(features, units)
        weights += features * units
        biases += units
        macs += features * units
        features = units

    params = weights + biases
    arena_bytes, file_bytes = tflm_costs(config, input_shape, num_classes)
    return Footprint(
        params=params,
        weight_bytes_fp32=4 * params,
        weight_bytes_int8=weights + 4 * biases,
        peak_activation_bytes_fp32=4 * peak_elements,
        peak_activation_bytes_int8=peak_elements,
        macs=macs,
        tflite_file_bytes=file_bytes,
        tflm_arena_bytes=arena_bytes,
    )
