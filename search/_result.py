"""The one result contract of a search, written atomically to <out>/result.json."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StudyInfo:
    name: str
    storage: str
    n_complete: int
    n_failed: int
    n_pruned: int


@dataclass(frozen=True)
class Chosen:
    trial_number: int
    summary: str
    config: dict[str, Any]
    footprint: dict[str, int]
    search_seeds: list[int]
    search_val_accuracies: list[float]
    seeds: list[int]                 # the fresh confirmation seeds
    val_accuracies: list[float]
    test_accuracies: list[float]
    worst_case_val_accuracy: float
    worst_case_test_accuracy: float


@dataclass(frozen=True)
class Confirmation:
    """One candidate's confirmation on the test split, whether it passed or not."""

    trial_number: int
    summary: str
    params: int
    seeds: list[int]
    val_accuracies: list[float]
    test_accuracies: list[float]
    worst_case_test_accuracy: float
    passed: bool


@dataclass(frozen=True)
class FrontPoint:
    trial_number: int
    summary: str
    params: int
    size: float
    worst_case_val_accuracy: float
    feasible: bool


@dataclass(frozen=True)
class SearchResult:
    study: StudyInfo
    floor: float
    size_objective: str
    chosen: Chosen | None
    confirmations: list[Confirmation]
    front: list[FrontPoint]
    baseline: dict[str, Any]
    mlflow: dict[str, Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON with `write_bytes_atomic`."""
    write_bytes_atomic(path, json.dumps(data, indent=2).encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: never half written. An
    OSError names `path` (the CLI turns it into one line, exit 3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
