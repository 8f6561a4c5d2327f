"""When nothing holds the floor, the result says how close the search came per size band and
which flag would buy more (search/pipeline.py)."""

from __future__ import annotations

from types import SimpleNamespace

from slimtune.search import pipeline
from slimtune.search._settings import SearchSettings
from slimtune.search.analysis import Confirmation
from slimtune.search.analysis.pareto import TrialPoint


def point(number: int, accuracy: float, params: int) -> TrialPoint:
    return TrialPoint(number, {}, f"cfg{number}", accuracy, params, params)


def how_close(points, confirmations=()):
    ctx = SimpleNamespace(settings=SearchSettings.of(min_accuracy=0.99).sized_for(60_000))
    return pipeline._how_close(ctx, points, list(confirmations))


def test_a_plateau_over_size_asks_for_more_training():
    text = how_close([point(0, 0.985, 800), point(1, 0.9912, 20_000), point(2, 0.9911, 2_000_000)])
    assert "0-999: 0.9850, 10,000-29,999: 0.9912, 1,000,000-: 0.9911" in text
    assert "against 0.9923" in text and "size stopped helping" in text and "--full-epochs" in text


def test_accuracy_still_growing_with_size_asks_for_more_time():
    text = how_close([point(0, 0.97, 800), point(1, 0.985, 40_000)])
    assert "accuracy still grew with size" in text and "--timeout" in text


def test_candidates_that_failed_only_as_int8_name_the_judge():
    failed = Confirmation(
        trial_number=1,
        summary="cfg1",
        params=900,
        seeds=[500],
        val_accuracies=[0.995],
        recheck_accuracies=[0.995],
        recheck_passed=False,
        test_accuracies=[],
        worst_case_test_accuracy=None,
        passed=False,
        judge="int8",
        int8_recheck_accuracies=[0.97],
    )
    text = how_close([point(1, 0.995, 900)], [failed])
    assert "1 candidate(s) held as float but not as int8: --judge float" in text
