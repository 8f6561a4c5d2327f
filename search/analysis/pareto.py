"""Pareto analysis of finished trials. Pure Python/numpy: no TensorFlow, Ray, MLflow or Optuna,
so it can be reused in reports and tested alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrialPoint:
    """One completed trial as the analyzer sees it."""

    number: int
    config: dict[str, Any]
    summary: str
    worst_case_val_accuracy: float
    size: float  # the size objective (params, int8 weight bytes or MACs)
    params: int
    within_budgets: bool = True


def pareto_front(points: list[TrialPoint]) -> list[TrialPoint]:
    """Non-dominated points (accuracy up, size down) among those within budgets, by size.

    A point is dominated when another is at least as accurate and at most as large, and strictly
    better in one of the two. Exact ties are all kept (same as Optuna's ``best_trials``).
    """
    eligible = [p for p in points if p.within_budgets]
    if not eligible:
        return []
    losses = np.array([[-p.worst_case_val_accuracy, p.size] for p in eligible], dtype=float)
    no_worse = (losses[:, None, :] <= losses[None, :, :]).all(axis=2)
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    dominated = np.asarray((no_worse & better).any(axis=0)).tolist()
    front = [p for p, d in zip(eligible, dominated, strict=False) if not d]
    return sorted(front, key=lambda p: (p.size, -p.worst_case_val_accuracy, p.number))


def feasible_candidates(points: list[TrialPoint], floor: float) -> list[TrialPoint]:
    """Distinct configurations whose worst-case validation accuracy >= floor and within budgets,
    smallest first (ties: more accurate first). The first is the analyzer's pick."""
    feasible = sorted(
        (p for p in points if p.within_budgets and p.worst_case_val_accuracy >= floor),
        key=lambda p: (p.size, -p.worst_case_val_accuracy, p.number),
    )
    seen: set[str] = set()
    unique = []
    for point in feasible:
        if point.summary not in seen:
            seen.add(point.summary)
            unique.append(point)
    return unique


def best_worst_case(points: list[TrialPoint]) -> TrialPoint | None:
    """The most accurate point within budgets (for reporting when nothing reaches the floor)."""
    eligible = [p for p in points if p.within_budgets]
    return max(eligible, key=lambda p: (p.worst_case_val_accuracy, -p.size), default=None)


# Parameter counts where the size bands of a "how close" report start (the last is open-ended).
SIZE_BANDS = (0, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000)


def best_per_size_band(
    points: list[TrialPoint], bands: tuple[int, ...] = SIZE_BANDS
) -> list[tuple[int, int | None, TrialPoint]]:
    """(low, high or None, the point with the best worst case) for each band of parameter counts
    [low, high) that holds a point within budgets, smallest band first."""
    eligible = [p for p in points if p.within_budgets]
    found = []
    for low, high in zip(bands, (*bands[1:], None), strict=True):
        band = [p for p in eligible if p.params >= low and (high is None or p.params < high)]
        if band:
            best = max(band, key=lambda p: (p.worst_case_val_accuracy, -p.params))
            found.append((low, high, best))
    return found
