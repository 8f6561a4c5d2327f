"""Image-classification data: MNIST built in, or any folder of IDX files or a Keras-layout .npz.

Splits: the training file is put in a fixed mixed order (`mixed_order`), then validation = the
last val_size images of it (5,000 for MNIST, as in the paper), a search also holds out the
recheck_size images before them (`DataSource.recheck`) and trains on the rest; test = the test
file. The mixed order makes the held-out splits alike. MNIST's training file is not in random
order: its images 45,000-49,999 were 0.2-2.2 points (median 1.3) harder than its last 5,000 for
all 25 seed models measured (benchmarks/confirmation runs in BENCHMARKS.md), so a candidate
rechecked there failed for the
split, not the model. `DataSource.train_val` never touches the test files' pixels; only
`DataSource.test` (called by confirmation) reads them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from slimtune.search._errors import UsageError

IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", "test-images-idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", "test-labels-idx1-ubyte"),
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
SYSTEM_MNIST_DIR = Path("/usr/share/datasets/mnist")
LOCAL_HINT = (
    "point slimtune at a local copy with --data-dir DIR (or SLIMTUNE_DATA_DIR) holding the "
    "four MNIST IDX files or mnist.npz"
)


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # uint8 (N, H, W, C)
    y: np.ndarray  # int32 (N,)

    @cached_property
    def digest(self) -> str:
        """Fingerprint of the split's content: every image and label byte, their shapes and
        types (BLAKE2b, 16 hex digits; about 0.1 s for MNIST's training split, once per split
        object). A study resumes only on splits with the same digests, and MLflow lists them
        with every run that read them."""
        hasher = hashlib.blake2b(digest_size=8)
        for array in (self.x, self.y):
            hasher.update(f"{array.dtype.str}{array.shape}".encode())
            hasher.update(np.ascontiguousarray(array).data)
        return hasher.hexdigest()


def class_count(*splits: Split) -> int:
    """Number of classes: labels are 0 .. N-1, so N is one more than the largest label seen."""
    return int(max(split.y.max() for split in splits)) + 1


def image_shape(split: Split) -> tuple[int, int, int]:
    """(H, W, C) of the split's images."""
    height, width, channels = (int(d) for d in split.x.shape[1:])
    return height, width, channels


@dataclass(frozen=True)
class DataSource:
    """Where a dataset lives. `name` is 'mnist' or the folder path; files are IDX paths or one
    npz."""

    name: str
    files: dict[str, Path]  # keys of IDX_FILES, or {"npz": path}

    def train_val(
        self, val_size: int = 5000, train_subset: int | None = None, holdout: int = 0
    ) -> tuple[Split, Split]:
        """(train, validation) of the training file in its mixed order (module docstring):
        validation is the last `val_size` images; train the images before them, less the
        `holdout` images just before validation (the recheck split, see `recheck`), cut to the
        first `train_subset` if given."""
        x, y = self._training_file()
        if not 0 < val_size < len(x):
            raise UsageError(
                f"--val-size {val_size} does not fit {len(x)} training images; "
                f"use a value between 1 and {len(x) - 1}"
            )
        if not 0 <= holdout < len(x) - val_size:
            raise UsageError(
                f"--recheck-size {holdout} does not fit {len(x)} training images "
                f"with --val-size {val_size}; use a value between 0 and "
                f"{len(x) - val_size - 1}"
            )
        end = len(x) - val_size - holdout
        train = Split(x[:end], y[:end])
        if train_subset is not None:
            if not 0 < train_subset:
                raise UsageError(
                    f"--train-subset {train_subset} must be positive; "
                    f"use a value between 1 and {len(train.x)}"
                )
            train = Split(train.x[:train_subset], train.y[:train_subset])
        return train, Split(x[-val_size:], y[-val_size:])

    def training_images(self) -> int:
        """How many images the training file holds (read from its labels)."""
        return len(self._read("y_train"))

    def recheck(self, val_size: int, size: int) -> Split:
        """The `size` training-file images just before the validation images (mixed order):
        held out of the search, read only to recheck candidates with fresh seeds before the test
        split is read."""
        x, y = self._training_file()
        end = len(x) - val_size
        return Split(x[end - size : end], y[end - size : end])

    def _training_file(self) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._read("x_train"), self._read("y_train")
        _check_pair(x, y, self._where("x_train"), self._where("y_train"))
        order = mixed_order(len(x))
        return x[order], y[order]

    def location(self, context: str) -> Path:
        """The file a split is read from: the test images for "test", else the training images
        (training, validation and recheck are parts of the training file)."""
        return self._where("x_test" if context == "test" else "x_train")

    def test(self) -> Split:
        x, y = self._read("x_test"), self._read("y_test")
        _check_pair(x, y, self._where("x_test"), self._where("y_test"))
        return Split(x, y)

    def check(self) -> None:
        """Verify every file (headers, sizes, image/label counts) without keeping test pixels."""
        if "npz" in self.files:
            with np.load(self.files["npz"]) as npz:
                missing = [k for k in NPZ_KEYS if k not in npz.files]
                if missing:
                    raise UsageError(
                        f"{self.files['npz']}: missing array {missing[0]!r}; a Keras-"
                        f"layout .npz holds {', '.join(NPZ_KEYS)}"
                    )
                for images, labels in (("x_train", "y_train"), ("x_test", "y_test")):
                    if len(npz[images]) != len(npz[labels]):
                        raise UsageError(
                            f"{self.files['npz']}: {images} has {len(npz[images])} "
                            f"entries but {labels} has {len(npz[labels])}; use a "
                            "complete copy of the dataset"
                        )
            return
        for images, labels in (("x_train", "y_train"), ("x_test", "y_test")):
            n_images = _idx_shape(self.files[images], 3)[0]
            n_labels = _idx_shape(self.files[labels], 1)[0]
            if n_images != n_labels:
                raise UsageError(
                    f"{self.files[images]} holds {n_images} images but "
                    f"{self.files[labels]} holds {n_labels} labels; use matching files"
                )

    def _where(self, key: str) -> Path:
        return self.files.get(key) or self.files["npz"]

    def _read(self, key: str) -> np.ndarray:
        if "npz" in self.files:
            with np.load(self.files["npz"]) as npz:
                array = npz[key]
        else:
            array = _read_idx(self.files[key])
        return _as_nhwc(array) if key.startswith("x") else array.astype(np.int32)


SPLIT_ORDER = "mixed"  # recorded in a study's identity: a study split otherwise is not resumed


def mixed_order(n: int) -> np.ndarray:
    """A fixed permutation of range(n) whose every contiguous block draws from the whole file
    (Fibonacci hashing: index i goes to rank of i x 2654435761 mod 2^32). Held-out splits then
    sample every part of the training file alike, whatever order it was written in; plain
    integer arithmetic, so the splits never change with numpy's random streams."""
    keys = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return np.argsort(keys, kind="stable")


def resolve(dataset: str = "mnist", data_dir: Path | None = None) -> DataSource:
    """Find a dataset: 'mnist' (lookup order in README) or a folder path for any other dataset."""
    if dataset != "mnist":
        path = Path(dataset)
        if not path.is_dir():
            why = (
                "is a file, not a folder"
                if path.exists()
                else "no such folder: the path does not exist"
            )
            raise UsageError(
                f"--dataset {dataset!r}: {why}; use 'mnist' or the path of a "
                "folder holding IDX files or a Keras-layout .npz"
            )
        return _folder_source(str(path), path)
    env_dir = os.environ.get("SLIMTUNE_DATA_DIR")
    for chosen, flag in ((data_dir, "--data-dir"), (env_dir, "SLIMTUNE_DATA_DIR")):
        if chosen:
            if not Path(chosen).is_dir():
                why = "is not a folder" if Path(chosen).exists() else "does not exist"
                raise UsageError(f"{flag} {str(chosen)!r} {why}; {LOCAL_HINT}")
            return _folder_source("mnist", Path(chosen))
    keras_cache = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if keras_cache.is_file():
        return DataSource("mnist", {"npz": keras_cache})
    if SYSTEM_MNIST_DIR.is_dir():
        return _folder_source("mnist", SYSTEM_MNIST_DIR)
    return DataSource("mnist", {"npz": _download_mnist()})


def _folder_source(name: str, folder: Path) -> DataSource:
    files: dict[str, Path] = {}
    for key, stems in IDX_FILES.items():
        found = [
            folder / f"{stem}{ext}"
            for stem in stems
            for ext in ("", ".gz")
            if (folder / f"{stem}{ext}").is_file()
        ]
        if found:
            files[key] = found[0]
    if len(files) == len(IDX_FILES):
        return DataSource(name, files)
    npz = sorted(folder.glob("*.npz"))
    if npz:
        return DataSource(name, {"npz": npz[0]})
    missing = next(stems[0] for key, stems in IDX_FILES.items() if key not in files)
    raise UsageError(
        f"{folder}: missing file {missing}[.gz]; the folder needs the four IDX files "
        "(gzipped or not) or a Keras-layout .npz"
    )


MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # Keras's
DOWNLOAD_TIMEOUT_S = 30.0


def _download_mnist() -> Path:
    """Fetch Keras's mnist.npz into its cache (~/.keras/datasets). Plain urllib rather than
    keras.datasets: no TensorFlow start-up, the network error's own text in the message, and
    nothing created unless the whole, verified file arrived."""
    import hashlib
    import urllib.request

    print(f"downloading MNIST from {MNIST_URL}", flush=True)
    try:
        with urllib.request.urlopen(MNIST_URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
            payload = response.read()
    except Exception as exc:  # any network or HTTP failure
        reason = getattr(exc, "reason", None) or exc
        detail = " ".join(str(reason).split())[:200] or type(exc).__name__
        raise UsageError(
            f"could not download MNIST from {MNIST_URL} ({detail}); {LOCAL_HINT}"
        ) from None
    if hashlib.sha256(payload).hexdigest() != MNIST_SHA256:
        raise UsageError(
            f"could not download MNIST from {MNIST_URL} (the file arrived "
            f"incomplete or altered: {len(payload)} bytes, wrong SHA-256); "
            f"{LOCAL_HINT}"
        )
    target = Path.home() / ".keras" / "datasets" / "mnist.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial.write_bytes(payload)
    os.replace(partial, target)
    return target


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _parse_header(path: Path, head: bytes, expected_dims: int) -> tuple[int, ...]:
    if len(head) < 4 or head[0:2] != b"\x00\x00" or head[2] != 0x08:
        raise UsageError(
            f"{path}: bad magic number {head[:4].hex() or 'empty'} (expected "
            f"0000080{expected_dims}: unsigned-byte IDX); replace the file with a "
            "complete copy"
        )
    n_dims = head[3]
    if n_dims not in (expected_dims, expected_dims + 1) or len(head) < 4 + 4 * n_dims:
        raise UsageError(
            f"{path}: IDX header declares {n_dims} dimensions, expected "
            f"{expected_dims}; replace the file with a complete copy"
        )
    return struct.unpack(f">{n_dims}I", head[4 : 4 + 4 * n_dims])


def _idx_shape(path: Path, expected_dims: int) -> tuple[int, ...]:
    """Header shape, after checking the payload length by streaming (the data is not kept)."""
    try:
        with _open(path) as handle:
            head = handle.read(4 + 4 * (expected_dims + 1))
            shape = _parse_header(path, head, expected_dims)
            payload = len(head) - 4 - 4 * len(shape)
            while chunk := handle.read(1 << 20):
                payload += len(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UsageError(
            f"{path}: unreadable ({exc}); replace the file with a complete copy"
        ) from None
    _check_payload(path, shape, payload)
    return shape


def _read_idx(path: Path) -> np.ndarray:
    try:
        with _open(path) as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UsageError(
            f"{path}: unreadable ({exc}); replace the file with a complete copy"
        ) from None
    expected_dims = 1 if "labels" in path.name else 3
    shape = _parse_header(path, raw[: 4 + 4 * (expected_dims + 1)], expected_dims)
    offset = 4 + 4 * len(shape)
    _check_payload(path, shape, len(raw) - offset)
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _check_payload(path: Path, shape: tuple[int, ...], payload_bytes: int) -> None:
    expected = int(np.prod(shape))
    if payload_bytes != expected:
        what = "truncated" if payload_bytes < expected else "has trailing bytes"
        raise UsageError(
            f"{path}: {what}: header says {'x'.join(map(str, shape))} "
            f"({expected} bytes) but the file holds {payload_bytes}; replace the file "
            "with a complete copy"
        )


def _check_pair(x: np.ndarray, y: np.ndarray, x_path: Path, y_path: Path) -> None:
    if len(x) != len(y):
        raise UsageError(
            f"{x_path} holds {len(x)} images but {y_path} holds {len(y)} labels; use matching files"
        )


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    return x[..., np.newaxis] if x.ndim == 3 else x
