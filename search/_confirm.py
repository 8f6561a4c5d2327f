"""Confirmation: retrain the smallest feasible candidates with fresh seeds and read the test split
(its only use). The first candidate whose worst-case test accuracy holds the floor is chosen."""
from __future__ import annotations

from typing import Any

from search._data import DataSource
from search._executor import RayExecutor, TrialError
from search._progress import Progress
from search._result import Confirmation
from search._study import StudyContext
from search._trainer import SeedsOutcome
from search.pareto import TrialPoint
from trackers import MlflowTracker

ATTR_PREFIX = "slimtune.confirmation."


def confirm_candidates(ctx: StudyContext, executor: RayExecutor, tracker: MlflowTracker,
                       data_refs: tuple[Any, Any], source: DataSource,
                       candidates: list[TrialPoint], progress: Progress
                       ) -> tuple[TrialPoint | None, list[Confirmation], dict[str, Any]]:
    """Returns (chosen point or None, every confirmation made, the chosen one's stored record).

    Confirmations are stored in the study, so a resumed search does not retrain them.
    """
    test_ref = None
    confirmations = []
    for point in candidates[:ctx.settings.confirm_candidates]:
        record = ctx.study.user_attrs.get(ATTR_PREFIX + point.summary)
        if record is None or record["seeds"] != ctx.confirm_seeds:
            if test_ref is None:
                test_ref = executor.put(source.test())
            progress.note(f"confirming trial {point.number} {point.summary} with fresh seeds "
                          f"{ctx.confirm_seeds} on the test split")
            record = _retrain(ctx, executor, tracker, data_refs, test_ref, point)
            ctx.study.set_user_attr(ATTR_PREFIX + point.summary, record)
        confirmation = Confirmation(
            trial_number=point.number, summary=point.summary, params=point.params,
            seeds=record["seeds"], val_accuracies=record["val_accuracies"],
            test_accuracies=record["test_accuracies"],
            worst_case_test_accuracy=min(record["test_accuracies"], default=0.0),
            passed=record["passed"])
        confirmations.append(confirmation)
        progress.note(f"  worst-case test accuracy {confirmation.worst_case_test_accuracy:.4f}: "
                      f"{'holds' if confirmation.passed else 'below'} the floor "
                      f"{ctx.settings.min_accuracy}")
        if confirmation.passed:
            return point, confirmations, record
    return None, confirmations, {}


def _retrain(ctx: StudyContext, executor: RayExecutor, tracker: MlflowTracker,
             data_refs: tuple[Any, Any], test_ref: Any, point: TrialPoint) -> dict[str, Any]:
    # One task per seed, so the confirmation uses every worker.
    refs = [executor.submit(point.config, data_refs[0], data_refs[1], ctx.recipe, [seed],
                            test=test_ref) for seed in ctx.confirm_seeds]
    try:
        outcomes: list[SeedsOutcome] = [executor.result(ref) for ref in refs]
    except TrialError as exc:
        return {"seeds": ctx.confirm_seeds, "val_accuracies": [], "test_accuracies": [],
                "passed": False, "error": str(exc)[:500]}
    val = [o.val_accuracies[0] for o in outcomes]
    test = [o.test_accuracies[0] for o in outcomes]
    median = sorted(range(len(outcomes)), key=lambda i: val[i])[(len(outcomes) - 1) // 2]
    passed = min(test) >= ctx.settings.min_accuracy
    metrics = {f"val_accuracy_seed_{s}": v for s, v in zip(ctx.confirm_seeds, val)}
    metrics |= {f"test_accuracy_seed_{s}": t for s, t in zip(ctx.confirm_seeds, test)}
    metrics |= {"worst_case_val_accuracy": min(val), "worst_case_test_accuracy": min(test),
                "params": point.params}
    run_id, _ = tracker.log_confirmation(
        f"confirm-trial-{point.number}", {"summary": point.summary, "trial_number": point.number},
        metrics, {"study": ctx.settings.study_name, "trial_number": str(point.number),
                  "summary": point.summary, "passed": str(passed).lower(),
                  "floor": str(ctx.settings.min_accuracy)},
        outcomes[median].model_keras)
    return {"seeds": ctx.confirm_seeds, "val_accuracies": val, "test_accuracies": test,
            "passed": passed, "run_id": run_id, "median_seed": ctx.confirm_seeds[median]}
