"""The early-stopping rule and the racing threshold (pure Python)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from slimtune.search.training._stopping import (
    TOLERANCE,
    optimistic_final_accuracy,
    required_accuracy,
    stop_reason,
)


def test_a_seed_stuck_at_chance_stops_after_the_first_epoch():
    reason = stop_reason([0.11], epochs=5, required=0.95)
    assert reason is not None and "epoch 1/5" in reason and "0.9500" in reason


def test_a_steep_curve_keeps_training():
    assert stop_reason([0.80], epochs=5, required=0.95) is None  # 0.7 gain over chance
    assert stop_reason([0.80, 0.90], epochs=5, required=0.95) is None  # +0.1 x 3 epochs left


def test_a_flat_curve_below_the_threshold_stops():
    # Best of the last two gains 0.003 x 2 epochs left + tolerance: 0.912 + 0.006 + 0.01 < 0.95.
    curve = [0.85, 0.907, 0.909, 0.912]
    assert optimistic_final_accuracy(curve, 6) == pytest.approx(0.912 + 2 * 0.003 + TOLERANCE)
    assert stop_reason(curve, epochs=6, required=0.95) is not None
    assert stop_reason(curve[:3], epochs=6, required=0.95) is None  # gain 0.057 two epochs ago


def test_a_dip_does_not_hide_the_best_epoch_or_the_gain_before_it():
    # From the best epoch so far, with the gain of the epoch before the dip (seen in
    # benchmarks/early_stopping.py: 0.29, 0.40, 0.39, then 0.61 and 0.66).
    assert optimistic_final_accuracy([0.29, 0.40, 0.39], 5) == pytest.approx(
        0.40 + 2 * 0.11 + TOLERANCE
    )
    assert stop_reason([0.29, 0.40, 0.39], epochs=5, required=0.5) is None
    assert stop_reason([0.90, 0.945, 0.94], epochs=5, required=0.95) is None


def test_after_the_last_epoch_the_rule_is_exact():
    assert stop_reason([0.9, 0.949], epochs=2, required=0.95).endswith("required 0.9500")
    assert stop_reason([0.9, 0.95], epochs=2, required=0.95) is None


def test_required_accuracy_is_the_floor_or_the_best_smaller_trial():
    completed = [(500, 0.93), (900, 0.97), (2000, 0.99)]
    assert required_accuracy(0.95, 400, completed) == 0.95  # nothing smaller: the floor
    assert required_accuracy(0.95, 1000, completed) == 0.97  # 900 params already reach 0.97
    assert required_accuracy(0.95, 5000, completed) == 0.99
    assert required_accuracy(0.99, 1000, completed) == 0.99


def test_the_rule_imports_no_heavy_module():
    code = (
        "import sys, slimtune.search.training._stopping; "
        "heavy = {'tensorflow', 'ray', 'mlflow', 'optuna'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_final_point_is_judged_exactly_whatever_the_curve_length():
    """Under the cosine schedule the trainer validates only after the last epoch: a one-point
    curve marked final is compared as it is, not extrapolated."""
    assert stop_reason([0.90], epochs=5, required=0.95) is None  # extrapolated: may still reach it
    assert stop_reason([0.90], epochs=5, required=0.95, final=True) == (
        "validation accuracy 0.9000 after all 5 epochs is below the required 0.9500"
    )
    assert stop_reason([0.96], epochs=5, required=0.95, final=True) is None
