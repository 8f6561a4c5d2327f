"""The Keras Tuner space of benchmarks/search_efficiency.py (`kt_config`: slimtune's default space
written as Keras Tuner hyperparameters) as a plain HyperModel, for the HyperModel benchmark row:

    slimtune search --hypermodel benchmarks/kt_hypermodel.py:build --min-accuracy 0.95 ...

The model is built for MNIST's shape (28x28x1, 10 classes), as Keras Tuner's own runs of
search_efficiency.py build it; not compiled, so slimtune's recipe trains it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from search_efficiency import kt_config  # noqa: E402

from slimtune.spaces import build_model  # noqa: E402

INPUT_SHAPE, CLASSES = (28, 28, 1), 10


def build(hp):
    return build_model(kt_config(hp), INPUT_SHAPE, CLASSES)
