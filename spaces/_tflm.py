"""The int8 file under the microcontroller runtime: TensorFlow Lite Micro (TFLM, the
`tflite-micro` wheel), which runs the same flatbuffer LiteRT writes from a static "arena" of RAM
given at start-up. Two measurements: the arena bytes TFLM really uses for a file, and the file's
top-1 accuracy under TFLM's own (reference) kernels.

The arena is read from TFLM's RecordingMicroAllocator ("Arena allocation total"): planned
activations (head) plus persistent tensors, node structures and kernel data (tail). It is the
smallest arena that runs the file when the arena starts and ends on 16-byte boundaries (TFLM's
buffer alignment; declare it `alignas(16)`). The wheel is a 64-bit host build: its tail holds
64-bit pointers, so on a 32-bit microcontroller the same file needs the same head and at most
this tail.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

from slimtune.spaces._litert import top1_accuracy

if TYPE_CHECKING:
    import numpy as np

ARENA_ALIGNMENT = 16
# Big enough for any model the default space builds (the largest peak is a few MB); the
# recording allocator reports what was used, not this.
_PROBE_ARENA_BYTES = 256 * 1024 * 1024
_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


class TflmError(RuntimeError):
    """TFLM cannot run a file (an op it lacks, a tensor type it cannot take); the message names
    the file's problem as TFLM printed it."""


def tflm_arena_bytes(blob: bytes) -> int:
    """Arena bytes TFLM uses to run the int8 LiteRT file `blob` (module docstring): a 16-byte
    multiple. Raises TflmError when TFLM cannot load or run the file."""
    import numpy as np

    _, report = _run_recorded(blob, lambda it: _invoke_zeros(it, np))
    match = _TOTAL.search(report)
    if match is None:  # the wheel changed its report: a bug here, not a user's error
        raise RuntimeError(f"no arena total in TFLM's allocation report: {report[-500:]!r}")
    return -(-int(match.group(1)) // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


def tflm_accuracy(blob: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the int8 LiteRT file `blob` under TFLM on float32 images `x` in [0, 1]
    (one image per invoke: TFLM has no batch resizing). Raises TflmError when TFLM cannot run
    the file."""
    return top1_accuracy(tflm_predictor(blob), x, y)


def tflm_predictor(blob: bytes) -> Any:
    """A batch of float32 images in [0, 1] -> dequantised class scores, under TFLM."""
    import numpy as np

    interpreter = _interpreter(blob, _PROBE_ARENA_BYTES)
    inp, out = interpreter.get_input_details(0), interpreter.get_output_details(0)
    in_scale, in_zero = _quantization(inp)
    out_scale, out_zero = _quantization(out)
    info = np.iinfo(inp["dtype"])

    def predict(batch: np.ndarray) -> np.ndarray:
        images = np.clip(np.round(batch / in_scale + in_zero), info.min, info.max)
        images = images.astype(inp["dtype"])
        scores = np.empty((len(batch), int(out["shape"][-1])), dtype=np.float32)
        for i, image in enumerate(images):
            interpreter.set_input(image[None], 0)
            _checked(interpreter.invoke)
            scores[i] = (interpreter.get_output(0)[0].astype(np.float32) - out_zero) * out_scale
        return scores

    return predict


def _quantization(detail: dict[str, Any]) -> tuple[float, int]:
    params = detail["quantization_parameters"]
    return float(params["scales"][0]), int(params["zero_points"][0])


def _invoke_zeros(interpreter: Any, np: Any) -> None:
    detail = interpreter.get_input_details(0)
    interpreter.set_input(np.zeros(tuple(detail["shape"]), dtype=detail["dtype"]), 0)
    _checked(interpreter.invoke)
    interpreter.print_allocations()


def _run_recorded(blob: bytes, body: Any) -> tuple[Any, str]:
    """Run `body(interpreter)` with file descriptor 2 captured: TFLM prints its allocation
    report and its errors there (MicroPrintf), not through Python."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            interpreter = _interpreter(blob, _PROBE_ARENA_BYTES)
            body(interpreter)
        except TflmError as exc:
            os.dup2(saved, 2)
            captured.seek(0)
            raise TflmError(f"{exc}: {_last_lines(captured.read())}") from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return interpreter, captured.read().decode(errors="replace")


def _interpreter(blob: bytes, arena_bytes: int) -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise TflmError(
            "the TFLM runtime is not installed: pip install tflite-micro (a slimtune dependency)"
        ) from None
    return _checked(lambda: runtime.Interpreter.from_bytes(blob, arena_size=arena_bytes))


def _checked(call: Any) -> Any:
    import struct

    try:
        return call()
    except (RuntimeError, ValueError, TypeError, IndexError, struct.error) as exc:  # damaged file
        raise TflmError(f"TFLM cannot run the file ({exc})") from None


def _last_lines(output: bytes) -> str:
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    return "; ".join(lines[-3:]) or "no details printed"
