"""The file a device runs: a LiteRT flatbuffer of a Keras model (float32, or full-integer int8
calibrated on training images), and its top-1 accuracy measured by the LiteRT interpreter.

It lives here, beside the footprint, because two sides need the one conversion: the search judges
each candidate's int8 file and `pull` ships it; they must produce the same bytes and never import
each other. int8 is post-training full-integer quantization (weights and activations int8,
biases int32, int8 input and output tensors). The interpreter is `ai_edge_litert`, the runtime
that replaces the deprecated `tf.lite.Interpreter`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slimtune.spaces._native import quiet_native_stderr

if TYPE_CHECKING:
    import keras
    import numpy as np

CALIBRATION_SEED = 0
CALIBRATION_IMAGES = 500
EVAL_BATCH = 1000


def calibration_rows(n_train: int, count: int) -> np.ndarray:
    """Which `count` of `n_train` training images calibrate int8 (a fixed seed, sorted), so the
    search and `pull` calibrate alike."""
    import numpy as np

    if count > n_train:
        raise ValueError(f"{count} calibration images: the training split holds {n_train}")
    return np.sort(np.random.default_rng(CALIBRATION_SEED).choice(n_train, count, replace=False))


def litert_bytes(model: keras.Model, calibration: np.ndarray | None = None) -> bytes:
    """A LiteRT flatbuffer of `model`: float32, or full-integer int8 when `calibration` (float32
    images in [0, 1], training split only) is given. Raises the converter's error for a model
    with an op that has no int8 kernel."""
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


def litert_accuracy(blob: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the LiteRT file `blob` on float32 images `x` in [0, 1]."""
    return top1_accuracy(_litert_predictor(blob), x, y)


def top1_accuracy(predict: Callable[[np.ndarray], Any], x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of `predict` (a batch of images -> class scores), in batches."""
    import numpy as np

    correct = 0
    for start in range(0, len(x), EVAL_BATCH):
        scores = np.asarray(predict(x[start : start + EVAL_BATCH]))
        correct += int(np.sum(scores.argmax(axis=1) == y[start : start + EVAL_BATCH]))
    return correct / len(x)


def _litert_predictor(blob: bytes) -> Callable[[np.ndarray], np.ndarray]:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=blob)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    batch_size = [0]

    def predict(batch: np.ndarray) -> np.ndarray:
        if batch_size[0] != len(batch):
            interpreter.resize_tensor_input(inp["index"], [len(batch), *batch.shape[1:]])
            interpreter.allocate_tensors()
            batch_size[0] = len(batch)
        interpreter.set_tensor(inp["index"], _to_input_type(batch, inp))
        interpreter.invoke()
        result = interpreter.get_tensor(out["index"])
        scale, zero_point = out["quantization"]
        return (result.astype(np.float32) - zero_point) * scale if scale else result

    return predict


def _to_input_type(batch: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float images to the input tensor's type, with its scale and zero point (int8 models)."""
    import numpy as np

    if detail["dtype"] == np.float32:
        return batch.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(batch / scale + zero_point), info.min, info.max).astype(detail["dtype"])
