"""The trials table: one row per trial of a study, as the plots, the report and the parent MLflow
run read it (`<out>/trials.csv`). Pure Python: no Optuna, so a report needs only the files."""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

TRIALS_CSV = "trials.csv"


@dataclass(frozen=True)
class TrialRow:
    """One trial. Sizes and accuracies are None for a trial that never trained; times are
    seconds since the study's first trial started (resumes included)."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    summary: str
    kernel_sizes: str  # the distinct conv kernel sizes, e.g. "3" or "3/5"
    size: float | None  # the size objective of the search
    params: int | None
    weight_bytes_int8: int | None
    peak_activation_bytes_int8: int | None
    macs: int | None
    val_accuracies: tuple[float, ...]  # per search seed
    worst_case_val_accuracy: float | None
    feasible: bool  # complete, worst seed >= the validation floor, in budgets
    within_budgets: bool
    epochs: int | None  # of the recipe its accuracies come from
    train_time_s: float | None
    started_s: float | None
    finished_s: float | None
    reason: str  # why it was pruned or failed
    duplicate_of: int | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "val_accuracies", tuple(self.val_accuracies))

    @property
    def median_val_accuracy(self) -> float | None:
        return statistics.median(self.val_accuracies) if self.val_accuracies else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"val_accuracies": list(self.val_accuracies)}

    @classmethod
    def from_csv(cls, row: dict[str, str]) -> TrialRow:
        """Parse one CSV row as `write_trials_csv` wrote it; ValueError names a bad field."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            text = row.get(field.name)
            if text is None:
                raise ValueError(f"column {field.name!r} missing")
            values[field.name] = _parse(field.name, str(field.type), text)
        return cls(**values)


def trials_csv(rows: list[TrialRow]) -> str:
    """The table as CSV text, one row per trial by number; accuracies joined by ';'."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=[f.name for f in fields(TrialRow)], lineterminator="\n"
    )
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r.number):
        writer.writerow({k: _format(v) for k, v in row.to_dict().items()})
    return buffer.getvalue()


def read_trials_csv(path: Path) -> list[TrialRow]:
    """The rows of a trials.csv; ValueError names the file and the bad row."""
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append(TrialRow.from_csv(row))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path} line {line}: {exc}") from None
    return rows


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(repr(float(v)) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(name: str, kind: str, text: str) -> Any:
    if kind.startswith("tuple"):
        return tuple(float(v) for v in text.split(";")) if text else ()
    if text == "" and "None" in kind:
        return None
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"{name} must be true or false, not {text!r}")
        return text == "true"
    if kind.startswith("int"):
        return int(text)
    if kind.startswith("float"):
        return float(text)
    return text
