"""The one result contract of a search, written atomically to <out>/result.json (by the pipeline,
with trackers.write_json_atomic)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    seeds: list[int]  # the fresh confirmation seeds
    val_accuracies: list[float]
    test_accuracies: list[float]
    worst_case_val_accuracy: float
    worst_case_test_accuracy: float
    recheck_accuracies: list[float]  # empty with --recheck-size 0
    registered_seed: int | None = None  # the seed whose model is registered (the median)
    # Judged as int8 (--judge int8): each seed's int8 LiteRT file on the same splits; else empty.
    judge: str = "float"
    int8_recheck_accuracies: list[float] = field(default_factory=list)
    int8_test_accuracies: list[float] = field(default_factory=list)
    worst_case_int8_test_accuracy: float | None = None


@dataclass(frozen=True)
class Confirmation:
    """One candidate's confirmation with fresh seeds: its recheck (None without a recheck split)
    and, for the pick only, the test split; `passed`: it holds the floor on test (as float and,
    judged as int8, as its int8 file)."""

    trial_number: int
    summary: str
    params: int
    seeds: list[int]
    val_accuracies: list[float]
    recheck_accuracies: list[float]
    recheck_passed: bool | None
    test_accuracies: list[float]  # empty: the test split was not read for this candidate
    worst_case_test_accuracy: float | None
    passed: bool
    judge: str = "float"
    int8_recheck_accuracies: list[float] = field(default_factory=list)
    int8_test_accuracies: list[float] = field(default_factory=list)
    worst_case_int8_test_accuracy: float | None = None


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
    selection: dict[str, Any]  # the rule: margins, floors on validation and recheck, sizes
    chosen: Chosen | None
    confirmations: list[Confirmation]
    front: list[FrontPoint]
    baseline: dict[str, Any]
    mlflow: dict[str, Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
