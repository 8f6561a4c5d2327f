"""The bytes a microcontroller really needs for a CNNConfig, predicted before any conversion: the
int8 LiteRT file's size (flash) and the TFLM arena that runs it (RAM).

Both come from the op graph the converter writes for `spaces.build_model` (int8, batch 1):
a plain block is CONV_2D; a separable block DEPTHWISE_CONV_2D (to c_in maps) then a 1 x 1
CONV_2D; pooling MAX_POOL_2D; the flatten head SHAPE, STRIDED_SLICE, PACK and RESHAPE (the
batch dimension stays dynamic in the file); the gap head MEAN; each dense layer
FULLY_CONNECTED; then SOFTMAX. Every convolution and dense layer has an int32 bias and
per-channel quantization (a float32 scale and an int64 zero point per output channel, for the
weights and again for the bias).

- arena = head + tail. The head is TFLM's greedy memory plan of the activation tensors, which
  this module replays exactly (each buffer 16-byte aligned, alive from the op that writes it to
  the last op that reads it; the largest placed first at the lowest offset that fits). The tail
  (persistent tensors, node structures, kernel data: 8 bytes of multiplier and shift per output
  channel of a convolution or dense layer) is a per-op constant plus that per-channel term.
- file = each constant buffer 16-byte aligned (weights int8, biases int32), plus 24 bytes of
  quantization per output channel of a convolution or dense layer, plus a per-op constant for
  the tensor and operator tables, names and metadata.

The per-op constants were fitted on 100 configurations of the default space and the presets
(tflite-micro 0.dev20261023 on x86-64, TensorFlow 2.21's converter), then raised by the largest
shortfall seen so a prediction is an upper bound: tests/spaces/test_tflm_cost.py converts 30+
configurations and checks 0 <= predicted - measured <= 10% (arena) and 5% (file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slimtune.spaces._config import CNNConfig

BUFFER_ALIGNMENT = 16
INT32_BYTES = 4

# Calibrated bytes (module docstring), per op kind: tail of the arena, and the file.
# "reshape" stands for the whole flatten head (SHAPE, STRIDED_SLICE, PACK, RESHAPE and their
# constants), "softmax" is in "base" (every model has one).
_TAIL_BYTES = {
    "base": 875,  # allocator, the model's input and output tensors, SOFTMAX
    "conv": 251,
    "depthwise": 263,
    "pool": 164,
    "reshape": 641,
    "mean": 234,
    "dense": 262,
}
_TAIL_BYTES_PER_CHANNEL = 8
_FILE_BYTES = {
    "base": 1144,  # header, metadata, signature, the input, SOFTMAX
    "conv": 654,
    "depthwise": 564,
    "pool": 236,
    "reshape": 925,
    "mean": 220,
    "dense": 525,
}
_FILE_BYTES_PER_CHANNEL = 24
# The largest shortfall of the fitted constants over the 106 calibration models (41 and 50
# bytes: TFLM's 16-byte alignment of kernel data, the flatbuffer's 4- and 8-byte padding of
# vectors), plus 32 and 24 bytes for models not seen.
_TAIL_MARGIN = 73
_FILE_MARGIN = 74


@dataclass(frozen=True)
class _Tensor:
    size_bytes: int
    first_op: int  # the op that writes it (0 for the model's input)
    last_op: int  # the last op that reads it (the last op for the model's output)


@dataclass
class _Graph:
    ops: list[str]
    tensors: list[_Tensor]
    constant_bytes: list[int]
    channels: int  # output channels of the per-channel quantized ops

    @property
    def tail_bytes(self) -> int:
        return (
            _TAIL_BYTES["base"]
            + sum(_TAIL_BYTES.get(op, 0) for op in self.ops)
            + _TAIL_BYTES_PER_CHANNEL * self.channels
            + _TAIL_MARGIN
        )

    @property
    def file_bytes(self) -> int:
        return (
            sum(_aligned(size, 4) for size in self.constant_bytes)
            + _FILE_BYTES["base"]
            + sum(_FILE_BYTES.get(op, 0) for op in self.ops)
            + _FILE_BYTES_PER_CHANNEL * self.channels
            + _FILE_MARGIN
        )


def tflm_costs(
    config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int
) -> tuple[int, int]:
    """(TFLM arena bytes, int8 .tflite file bytes) predicted for `config` (module docstring).
    The config must fit `input_shape` (`spaces.footprint` checks it first)."""
    graph = _graph(config, input_shape, num_classes)
    return _aligned(planned_bytes(graph.tensors) + graph.tail_bytes), graph.file_bytes


def planned_bytes(tensors: list[_Tensor]) -> int:
    """The arena head TFLM's GreedyMemoryPlanner lays out for `tensors` (in the file's order):
    largest first, each at the lowest offset clear of every placed tensor alive at the same
    time. Among equal sizes the later tensor goes first: the planner lists its buffers from
    the last and sorts them stably."""
    order = sorted(range(len(tensors)), key=lambda i: (-_aligned(tensors[i].size_bytes), -i))
    placed: list[tuple[int, int, _Tensor]] = []  # (offset, size, tensor)
    high = 0
    for i in order:
        tensor, size = tensors[i], _aligned(tensors[i].size_bytes)
        offset = 0
        for other_offset, other_size, other in sorted(placed, key=lambda p: p[0]):
            if other.last_op < tensor.first_op or tensor.last_op < other.first_op:
                continue  # never alive together
            if offset + size <= other_offset:
                break
            offset = max(offset, other_offset + other_size)
        placed.append((offset, size, tensor))
        high = max(high, offset + size)
    return high


def _aligned(size: int, alignment: int = BUFFER_ALIGNMENT) -> int:
    return -(-size // alignment) * alignment


class _Builder:
    """Appends ops to a graph, tracking the activation tensor each op reads."""

    def __init__(self, input_bytes: int) -> None:
        self.graph = _Graph(ops=[], tensors=[], constant_bytes=[], channels=0)
        self.reads: list[list[int]] = []
        self.sizes = [input_bytes]
        self.firsts = [0]
        self.current = 0

    def op(self, kind: str, out_bytes: int, reads: list[int] | None = None) -> int:
        self.graph.ops.append(kind)
        self.reads.append([self.current] if reads is None else reads)
        self.sizes.append(out_bytes)
        self.firsts.append(len(self.graph.ops) - 1)
        self.current = len(self.sizes) - 1
        return self.current

    def weighted(self, kind: str, out_bytes: int, weights: int, channels: int) -> None:
        self.op(kind, out_bytes)
        self.graph.constant_bytes += [weights, INT32_BYTES * channels]
        self.graph.channels += channels

    def finish(self) -> _Graph:
        last = len(self.graph.ops) - 1
        for t, size in enumerate(self.sizes):
            readers = [i for i, reads in enumerate(self.reads) if t in reads]
            end = max(readers) if readers else last
            self.graph.tensors.append(_Tensor(size, self.firsts[t], end))
        return self.graph


def _graph(config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int) -> _Graph:
    height, width, channels = input_shape
    build = _Builder(height * width * channels)
    for block in config.blocks:
        k = block.kernel_size
        if block.padding == "valid":
            height, width = height - k + 1, width - k + 1
        pixels = height * width
        if block.separable:
            build.weighted("depthwise", pixels * channels, k * k * channels, channels)
            build.weighted("conv", pixels * block.filters, channels * block.filters, block.filters)
        else:
            build.weighted(
                "conv", pixels * block.filters, k * k * channels * block.filters, block.filters
            )
        channels = block.filters
        if block.pool > 1:
            rounding = math.ceil if block.padding == "same" else math.floor
            height, width = rounding(height / block.pool), rounding(width / block.pool)
            build.op("pool", height * width * channels)
    if config.head == "flatten":
        features = height * width * channels
        maps = build.current
        # Flatten keeps the batch dynamic: the new shape is computed at run time from the maps'.
        build.op("shape", 4 * INT32_BYTES)
        build.op("strided_slice", INT32_BYTES)
        build.op("pack", 2 * INT32_BYTES)
        build.op("reshape", features, reads=[maps, build.current])
        build.graph.constant_bytes += [INT32_BYTES] * 3  # slice begin/end/stride, the -1
    else:
        features = channels
        build.op("mean", features)
        build.graph.constant_bytes.append(2 * INT32_BYTES)  # the axes
    for units in ([config.dense_units] if config.dense_units else []) + [num_classes]:
        build.weighted("dense", units, features * units, units)
        features = units
    build.op("softmax", num_classes)
    return build.finish()
