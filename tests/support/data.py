"""Small IDX datasets written on the fly (any shape and class count)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, magic: bytes | None = None) -> None:
    header = (magic or bytes([0, 0, 8, array.ndim])) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def make_dataset(
    folder: Path, n_train: int = 120, n_test: int = 30, shape=(8, 8), gz: bool = True
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    rng = np.random.default_rng(0)
    write_idx(folder / f"train-images-idx3-ubyte{ext}", rng.integers(0, 255, (n_train, *shape)))
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", np.arange(n_train) % 3)
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", rng.integers(0, 255, (n_test, *shape)))
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", np.arange(n_test) % 3)
    return folder
