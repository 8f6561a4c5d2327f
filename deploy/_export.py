"""Export a Keras model as .keras, SavedModel, float LiteRT (.tflite) or full-integer int8 LiteRT,
then measure the exported artifact itself on the test split.

int8 is post-training full-integer quantization (weights and activations int8, biases int32,
int8 input and output tensors), calibrated on images of the training split only. The LiteRT
files are evaluated with the LiteRT interpreter (`ai_edge_litert`, the runtime that replaces the
deprecated `tf.lite.Interpreter`), so the accuracy printed is the accuracy of the file a device
runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from slimtune.spaces import (
    litert_accuracy,
    litert_bytes,
    tflm_accuracy,
    tflm_arena_bytes,
    top1_accuracy,
)

if TYPE_CHECKING:
    import keras

FORMATS = ("keras", "saved_model", "tflite", "tflite-int8")


@dataclass(frozen=True)
class ExportReport:
    """What `slimtune pull` measured. Accuracies are on the test split; drop = float - exported."""

    model_uri: str
    format: str
    path: str
    file_bytes: int
    float_accuracy: float
    exported_accuracy: float
    drop: float
    test_images: int
    calibration_images: int
    floor: float | None
    floor_source: str
    passed: bool | None  # None: no floor to check
    analytic_weight_bytes_int8: int | None
    # tflite-int8 only (None otherwise): the file under TensorFlow Lite Micro, the runtime a
    # microcontroller runs it with: its test accuracy and the arena it really uses.
    tflm_accuracy: float | None = None
    tflm_arena_bytes: int | None = None
    # Against the device budgets the model was registered with: None when none applies.
    fits: bool | None = None
    budget_misses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export(model: keras.Model, fmt: str, path: Path, calibration: np.ndarray | None = None) -> None:
    """Write `model` to `path` in `fmt` (a file, or a folder for saved_model). `calibration`
    (float32
    images in [0, 1]) is required for tflite-int8."""
    if fmt == "keras":
        model.save(path)
    elif fmt == "saved_model":
        model.export(path, format="tf_saved_model", verbose=False)
    elif fmt in ("tflite", "tflite-int8"):
        path.write_bytes(tflite_bytes(model, calibration if fmt == "tflite-int8" else None))
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")


def tflite_bytes(model: keras.Model, calibration: np.ndarray | None = None) -> bytes:
    """A LiteRT flatbuffer of `model`: float32, or full-integer int8 when `calibration` is given
    (the one conversion the search judges candidates with)."""
    return litert_bytes(model, calibration)


def accuracy(fmt: str, path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the exported artifact at `path` on float32 images `x` in [0, 1]."""
    if fmt == "keras":
        import keras

        predict = keras.models.load_model(path, safe_mode=True).predict
        return top1_accuracy(lambda batch: predict(batch, verbose=0), x, y)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # must outlive the calls: it owns the variables
        return top1_accuracy(lambda batch: loaded.serve(tf.constant(batch)).numpy(), x, y)
    return litert_accuracy(path.read_bytes(), x, y)


def tflm_measures(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """(test accuracy, arena bytes) of the int8 file at `path` under TFLM."""
    blob = path.read_bytes()
    return tflm_accuracy(blob, x, y), tflm_arena_bytes(blob)


def keras_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return top1_accuracy(lambda batch: model.predict(batch, verbose=0), x, y)


def artifact_bytes(path: Path) -> int:
    """Size of a file, or the total size of the files in a folder (SavedModel)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A temporary sibling of `target` to export into; the caller moves it into place with
    `publish` (atomic for files), and anything left is removed on exit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield folder / target.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(staged_path: Path, target: Path) -> None:
    if staged_path.is_dir() and target.is_dir():
        shutil.rmtree(target)  # a folder cannot be replaced atomically; checked empty-or-ours first
    os.replace(staged_path, target)
