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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from slimtune.spaces import quiet_native_stderr

if TYPE_CHECKING:
    import keras

FORMATS = ("keras", "saved_model", "tflite", "tflite-int8")
EVAL_BATCH = 1000


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
    """A LiteRT flatbuffer of `model`: float32, or full-integer int8 when `calibration` is given."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        # Keras 3 -> SavedModel -> converter: the path TensorFlow documents for Keras 3 models.
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: (
                [calibration[i : i + 1]] for i in range(len(calibration))
            )
            # Full integer: a model with an op that has no int8 kernel fails here instead of
            # silently keeping float ops a microcontroller runtime cannot run.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        with quiet_native_stderr():  # the converter's MLIR diagnostics; shown if it fails
            return converter.convert()


def accuracy(fmt: str, path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the exported artifact at `path` on float32 images `x` in [0, 1]."""
    if fmt == "keras":
        import keras

        predict = keras.models.load_model(path, safe_mode=True).predict
        return _top1(lambda batch: predict(batch, verbose=0), x, y)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # must outlive the calls: it owns the variables
        return _top1(lambda batch: loaded.serve(tf.constant(batch)).numpy(), x, y)
    return _top1(_litert_predictor(path.read_bytes()), x, y)


def keras_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return _top1(lambda batch: model.predict(batch, verbose=0), x, y)


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


def _litert_predictor(blob: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=blob)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    batch_size = [0]

    def predict(batch: np.ndarray) -> np.ndarray:
        if batch_size[0] != len(batch):
            interpreter.resize_tensor_input(inp["index"], [len(batch), *batch.shape[1:]])
            interpreter.allocate_tensors()
            batch_size[0] = len(batch)
        interpreter.set_tensor(inp["index"], _quantize(batch, inp))
        interpreter.invoke()
        result = interpreter.get_tensor(out["index"])
        scale, zero_point = out["quantization"]
        return (result.astype(np.float32) - zero_point) * scale if scale else result

    return predict


def _quantize(batch: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float images to the input tensor's type, with its scale and zero point (int8 models)."""
    if detail["dtype"] == np.float32:
        return batch.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(batch / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _top1(predict, x: np.ndarray, y: np.ndarray) -> float:
    correct = 0
    for start in range(0, len(x), EVAL_BATCH):
        scores = np.asarray(predict(x[start : start + EVAL_BATCH]))
        correct += int(np.sum(scores.argmax(axis=1) == y[start : start + EVAL_BATCH]))
    return correct / len(x)
