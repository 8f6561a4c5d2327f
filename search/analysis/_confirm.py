"""Confirmation: retrain the smallest feasible candidates with fresh seeds and read the test split
(its only use). The first candidate whose worst-case test accuracy holds the floor is chosen."""
from __future__ import annotations

from typing import Any

from search._data import DataSource
from search._progress import Progress
from search.analysis._result import Confirmation
from search.analysis.pareto import TrialPoint
from search.execution import Executor, TrialError
from search.study import StudyContext, TrialRecords
from search.training import SeedsOutcome
from trackers import seed_metrics, write_bytes_atomic

CONFIRMATION_ATTR_PREFIX = "slimtune.confirmation."  # + summary: a study user attribute


def confirm_candidates(ctx: StudyContext, executor: Executor, records: TrialRecords,
                       data_refs: tuple[Any, Any], source: DataSource,
                       candidates: list[TrialPoint], progress: Progress
                       ) -> tuple[TrialPoint | None, list[Confirmation], dict[str, Any]]:
    """Returns (chosen point or None, every confirmation made, the chosen one's stored record).

    Confirmations are stored in the study, so a resumed search does not retrain them.
    """
    test_ref = None
    confirmations = []
    for point in candidates[:ctx.settings.confirm_candidates]:
        record = ctx.study.user_attrs.get(CONFIRMATION_ATTR_PREFIX + point.summary)
        if record is None or record["seeds"] != ctx.confirm_seeds:
            if test_ref is None:
                test_ref = executor.put(source.test())
            progress.note(f"confirming trial {point.number} {point.summary} with fresh seeds "
                          f"{ctx.confirm_seeds} on the test split")
            record = _retrain(ctx, executor, records, data_refs, test_ref, point)
            ctx.study.set_user_attr(CONFIRMATION_ATTR_PREFIX + point.summary, record)
        if record.get("passed") and not record.get("run_id"):
            record = log_confirmation(ctx, records, point, record)
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


def _retrain(ctx: StudyContext, executor: Executor, records: TrialRecords,
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
    record = {"seeds": ctx.confirm_seeds, "val_accuracies": val, "test_accuracies": test,
              "passed": min(test) >= ctx.settings.min_accuracy, "run_id": None,
              "median_seed": ctx.confirm_seeds[median]}
    # Spooled first: the run may have to wait for MLflow (see search/_records.py).
    write_bytes_atomic(_spooled_model(records, point.summary), outcomes[median].model_keras)
    return log_confirmation(ctx, records, point, record)


def log_confirmation(ctx: StudyContext, records: TrialRecords, point: TrialPoint,
                     record: dict[str, Any]) -> dict[str, Any]:
    """Write the confirmation's child run (with the spooled median model); the record gains its
    run id, or keeps None while MLflow is unreachable."""
    trial_number, summary = point.number, point.summary
    seeds, val, test = record["seeds"], record["val_accuracies"], record["test_accuracies"]
    metrics = seed_metrics("val", seeds, val) | seed_metrics("test", seeds, test)
    metrics |= {"worst_case_val_accuracy": min(val), "worst_case_test_accuracy": min(test),
                "params": point.params}
    model_path = _spooled_model(records, summary)
    logged = records.attempt(lambda: records.tracker.log_confirmation(
        f"confirm-trial-{trial_number}", {"summary": summary, "trial_number": trial_number},
        metrics, {"study": ctx.settings.study_name, "trial_number": str(trial_number),
                  "summary": summary, "passed": str(record["passed"]).lower(),
                  "floor": str(ctx.settings.min_accuracy)},
        model_path.read_bytes()))
    if logged is None:
        return record
    model_path.unlink(missing_ok=True)
    record = record | {"run_id": logged[0]}
    ctx.study.set_user_attr(CONFIRMATION_ATTR_PREFIX + summary, record)
    return record


def _spooled_model(records: TrialRecords, summary: str) -> Any:
    return records.spool / f"confirm-{summary.replace('|', '_')}.keras"
