"""What the CPU under TensorFlow can do: oneDNN, bfloat16 units, gradients of grouped convolutions.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16, AVX-VNNI or
AMX. On the AVX2-only CPUs of many cloud machines and laptops it falls back to its own kernels,
which trained the small models 3.7x slower there (plain Keras `fit`, one core) and have no
gradient for grouped convolutions, the kernels packed seeds train on. So every slimtune process
that loads TensorFlow (the CLI, each Ray worker) turns oneDNN on before TensorFlow loads, unless
the user chose with TF_ENABLE_ONEDNN_OPTS; where it stays off, seeds train one at a time
(`grouped_convolution_gradients`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

ONEDNN_ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"
ISA_CAP_ENV_VAR = "ONEDNN_MAX_CPU_ISA"
# oneDNN's ISA caps (its cpu_isa names) that leave out bfloat16 arithmetic: a CPU capped to one
# of them computes bfloat16 by conversion, slower than float32.
_CAPS_WITHOUT_BF16 = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
)
# The CPU flags (Linux /proc/cpuinfo names) on which TensorFlow turns oneDNN on by itself.
_ONEDNN_BY_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
_FALSE = {"0", "false", "off", "no"}


def enable_onednn() -> None:
    """oneDNN on for TensorFlow in this process and the processes it starts, unless the user set
    TF_ENABLE_ONEDNN_OPTS. TensorFlow reads it once, when it loads: call this before."""
    os.environ.setdefault(ONEDNN_ENV_VAR, "1")


def onednn_enabled() -> bool:
    """Whether TensorFlow in this process runs oneDNN kernels (TF_ENABLE_ONEDNN_OPTS, else
    TensorFlow's own choice from the CPU's flags)."""
    value = os.environ.get(ONEDNN_ENV_VAR)
    if value is not None:
        return value.strip().lower() not in _FALSE
    flags = _cpu_flags()
    return any(flag in flags for flag in _ONEDNN_BY_DEFAULT_FLAGS)


def bfloat16_units() -> bool:
    """Whether bfloat16 convolutions here run on bfloat16 hardware: the CPU has the units,
    oneDNN (which uses them) is on and ONEDNN_MAX_CPU_ISA does not cap it below them."""
    flags = _cpu_flags()
    if not ("avx512_bf16" in flags or "amx_bf16" in flags) or not onednn_enabled():
        return False
    return os.environ.get(ISA_CAP_ENV_VAR, "ALL").strip().upper() not in _CAPS_WITHOUT_BF16


@functools.cache
def grouped_convolution_gradients() -> bool:
    """Whether this process's TensorFlow can train a grouped convolution: oneDNN can; TensorFlow's
    own CPU kernels raise "Gradients for grouped convolutions are not supported on CPU". Probed
    once per process on a 1 x 1 convolution of two groups."""
    import tensorflow as tf

    images = tf.Variable(tf.ones([1, 2, 2, 2]))
    kernel = tf.Variable(tf.ones([1, 1, 1, 2]))  # input depth 1 of 2 channels: two groups
    try:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(tf.nn.conv2d(images, kernel, 1, "VALID"))
        for gradient in tape.gradient(total, [images, kernel]):
            gradient.numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
    return True


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()
