"""What both trainers do to the process they run in: TensorFlow's threads, the garbage collector,
and saving a Keras model as bytes to send back."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path
from typing import Any


def configure_threads(threads: int) -> None:
    """Give TensorFlow exactly `threads` CPU threads; Ray's CPU accounting does not reach it."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        pass  # already initialised in this reused worker process, with the same settings


def freeze_library_objects() -> None:
    """Once per process, after TensorFlow and Keras are loaded: keep the ~400,000 objects alive
    now (their modules) out of every later garbage collection. Each trial ends with
    `keras.backend.clear_session`, whose collection scanned them all: 0.15-0.2 s per trial,
    outside the training time, against 0.003 s frozen (BENCHMARKS.md, "the per-trial fixed
    cost"). Frozen objects are still freed by reference counting; only cycles among them (module
    state) are never collected."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


_frozen = False


def model_bytes(model: Any) -> bytes:
    """A Keras model as the bytes of its `.keras` file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()
