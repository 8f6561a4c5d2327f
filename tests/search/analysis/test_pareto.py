"""The Pareto analyzer on hand-made trial sets, against Optuna, and its import purity."""

from __future__ import annotations

import random
import subprocess
import sys

import optuna
import pytest

from slimtune.search.analysis.pareto import (
    TrialPoint,
    best_per_size_band,
    best_worst_case,
    feasible_candidates,
    pareto_front,
)


def point(number, acc, size, within=True, summary=None):
    return TrialPoint(number, {}, summary or f"cfg{number}", acc, size, int(size), within)


def test_front_drops_dominated_points_and_sorts_by_size():
    points = [
        point(0, 0.90, 100),
        point(1, 0.95, 200),
        point(2, 0.93, 300),
        point(3, 0.99, 1000),
        point(4, 0.80, 100),
    ]
    assert [p.number for p in pareto_front(points)] == [0, 1, 3]


def test_exact_ties_are_all_kept_and_weak_dominance_removes():
    points = [point(0, 0.9, 100), point(1, 0.9, 100), point(2, 0.9, 150), point(3, 0.85, 100)]
    assert [p.number for p in pareto_front(points)] == [0, 1]


def test_points_over_budget_never_enter_the_front():
    points = [point(0, 0.99, 10, within=False), point(1, 0.9, 100)]
    assert [p.number for p in pareto_front(points)] == [1]


def test_smallest_feasible_is_chosen_with_accuracy_breaking_ties():
    points = [
        point(0, 0.96, 500),
        point(1, 0.97, 300),
        point(2, 0.98, 300),
        point(3, 0.94, 50),
        point(4, 0.99, 10, within=False),
    ]
    assert [p.number for p in feasible_candidates(points, 0.95)] == [2, 1, 0]


def test_floor_is_inclusive_and_duplicates_collapse():
    points = [point(0, 0.95, 10, summary="a"), point(1, 0.96, 10, summary="a")]
    assert [p.number for p in feasible_candidates(points, 0.95)] == [1]


def test_empty_feasible_set_reports_best_worst_case():
    points = [point(0, 0.5, 10), point(1, 0.7, 20), point(2, 0.99, 5, within=False)]
    assert feasible_candidates(points, 0.95) == []
    assert best_worst_case(points).number == 1
    assert pareto_front([]) == [] and best_worst_case([]) is None


@pytest.mark.parametrize("seed", range(5))
def test_front_equals_optunas_best_trials(seed):
    rng = random.Random(seed)
    points = [point(i, round(rng.random(), 2), rng.randint(1, 30)) for i in range(60)]
    study = optuna.create_study(directions=["maximize", "minimize"])
    for p in points:
        study.add_trial(optuna.trial.create_trial(values=[p.worst_case_val_accuracy, p.size]))
    expected = sorted(t.number for t in study.best_trials)
    assert sorted(p.number for p in pareto_front(points)) == expected


def test_analyzer_imports_no_tensorflow_ray_mlflow_or_optuna():
    code = (
        "import sys, slimtune.search.analysis.pareto; heavy = [m for m in ('tensorflow', 'ray', "
        "'mlflow', 'optuna', 'keras') if m in sys.modules]; print(heavy); assert not heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_best_per_size_band_keeps_the_best_worst_case_of_each_band():
    points = [
        point(0, 0.95, 500),
        point(1, 0.97, 900),
        point(2, 0.99, 950, within=False),  # over a budget: not a model the user could get
        point(3, 0.98, 20_000),
        point(4, 0.98, 12_000),
    ]
    bands = best_per_size_band(points, (0, 1_000, 10_000))
    assert [(low, high, p.number) for low, high, p in bands] == [(0, 1_000, 1), (10_000, None, 4)]
