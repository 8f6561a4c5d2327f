"""The int8 judgement: each trained seed's model as the full-integer LiteRT file a device runs,
measured on the held-out split by the LiteRT interpreter. A candidate is judged on what ships;
the conversion is the one `pull --format tflite-int8` uses (`spaces.litert_bytes`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from slimtune.search._data import Split
from slimtune.search.training._request import SeedsOutcome, TrainingFailed
from slimtune.spaces import litert_accuracy, litert_bytes


def judge_int8(outcome: SeedsOutcome, held_out: Split, calibration: Any) -> None:
    """Fill `outcome.seed_int8` and `outcome.int8_test_accuracies` from its `seed_models`,
    calibrating on `calibration` (float32 training images in [0, 1]). Raises TrainingFailed
    when the model has an op without an int8 kernel: such a model cannot ship as int8."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    x = held_out.x.astype(np.float32) / 255.0
    blobs, accuracies = [], []
    for saved in outcome.seed_models:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.keras"
            path.write_bytes(saved)
            model = keras.saving.load_model(path, compile=False)
        try:
            blob = litert_bytes(model, calibration)
        except Exception as exc:  # the converter raises several types; its last line says why
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise TrainingFailed(
                f"no full-integer int8 file for this model ({last[:200]}); "
                "judge it as float with --judge float"
            ) from exc
        blobs.append(blob)
        accuracies.append(litert_accuracy(blob, x, held_out.y))
    outcome.seed_int8 = blobs
    outcome.int8_test_accuracies = accuracies
