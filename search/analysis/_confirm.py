"""Confirmation: the smallest feasible candidates are retrained with fresh seeds and rechecked on
the held-out recheck split (training-file images the search never saw); the first whose worst
case holds the recheck floor (the floor plus its binomial margin) is the pick, and only then is
the test split read, once, for the pick's models. A pick below the floor on test is reported, not
registered, and no other candidate is tried on test: that would be selecting on the test split.

With --recheck-size 0 there is no recheck split: candidates are confirmed on the test split
directly and the first that holds is chosen (the rule before the recheck split existed).

Under --judge int8 (the default) every confirmation seed is judged twice, as the float model and
as the full-integer int8 LiteRT file that `pull --format tflite-int8` writes (calibrated on
training images, run by the LiteRT interpreter): a candidate holds only if both worst cases
clear the floor, because the int8 file is what ships to a device.
"""

from __future__ import annotations

from typing import Any

from slimtune.search._data import DataSource
from slimtune.search._failpoints import fail_point
from slimtune.search._progress import Progress
from slimtune.search.analysis._result import Confirmation
from slimtune.search.analysis.pareto import TrialPoint
from slimtune.search.execution import Executor, TrialError
from slimtune.search.study import StudyContext, TrialRecords, input_dataset
from slimtune.search.training import (
    SeedsOutcome,
    TrainingRequest,
    saved_model_accuracy,
    seed_groups,
)
from slimtune.spaces import (
    CALIBRATION_IMAGES,
    calibration_rows,
    config_from_dict,
    litert_accuracy,
)
from slimtune.trackers import InputDataset, seed_metrics, write_bytes_atomic

CONFIRMATION_ATTR_PREFIX = "slimtune.confirmation."  # + summary: a study user attribute


def confirm_candidates(
    ctx: StudyContext,
    executor: Executor,
    records: TrialRecords,
    data_refs: tuple[Any, Any],
    source: DataSource,
    candidates: list[TrialPoint],
    progress: Progress,
) -> tuple[TrialPoint | None, list[Confirmation], dict[str, Any]]:
    """Returns (chosen point or None, every confirmation made, the chosen one's stored record).

    Confirmations are stored in the study, so a resumed search does not retrain them.
    """
    s = ctx.settings
    recheck = s.held_out.recheck_size > 0
    held_out_ref = calibration = None
    held_out_dataset: InputDataset | None = None
    confirmations = []
    for point in candidates[: s.selection.confirm_candidates]:
        record = ctx.study.user_attrs.get(CONFIRMATION_ATTR_PREFIX + point.summary)
        if (
            record is None
            or record["seeds"] != ctx.confirm_seeds
            or record.get("recheck_size", 0) != s.held_out.recheck_size
            or record.get("judge", "float") != s.selection.judge
        ):
            if held_out_dataset is None:  # read once, for the first candidate to confirm
                held_out = (
                    source.recheck(s.held_out.val_size, s.held_out.recheck_size)
                    if recheck
                    else source.test()
                )
                held_out_ref = executor.put(held_out)
                calibration = _int8_calibration(source, ctx)
                held_out_dataset = input_dataset(source, "recheck" if recheck else "test", held_out)
            where = (
                f"the {s.held_out.recheck_size:,}-image recheck split"
                if recheck
                else "the test split"
            )
            progress.note(
                f"confirming trial {point.number} {point.summary} with fresh seeds "
                f"{ctx.confirm_seeds} on {where}"
            )
            record = _retrain(
                ctx,
                executor,
                records,
                data_refs,
                held_out_ref,
                point,
                held_out_dataset,
                calibration,
            )
            fail_point("confirm.trained")
            ctx.study.set_user_attr(CONFIRMATION_ATTR_PREFIX + point.summary, record)
            if recheck and not record.get("recheck_passed"):
                # Never the pick: its models are not needed for the test split (deleted after
                # the record is stored, so a resume never looks for them).
                _unspool(records, point.summary, record["seeds"])
        if recheck and record.get("recheck_passed") and "test_accuracies" not in record:
            progress.note(
                f"  {_worst_cases(record, 'recheck')} >= {s.recheck_floor:.4f}: the pick; "
                "reading the test split once"
            )
            record = _test_pick(ctx, records, source, point, record)
        if record.get("test_accuracies") is not None and not record.get("run_id"):
            record = log_confirmation(ctx, records, point, record)
        confirmation = _confirmation(point, record)
        confirmations.append(confirmation)
        progress.note(_verdict(ctx, confirmation))
        if recheck and confirmation.recheck_passed:
            # The pick is final: a miss on test is reported, never replaced by a later candidate.
            return (
                (point if confirmation.passed else None),
                confirmations,
                (record if confirmation.passed else {}),
            )
        if not recheck and confirmation.passed:
            return point, confirmations, record
    return None, confirmations, {}


def _retrain(
    ctx: StudyContext,
    executor: Executor,
    records: TrialRecords,
    data_refs: tuple[Any, Any],
    held_out_ref: Any,
    point: TrialPoint,
    held_out_dataset: InputDataset,
    calibration: Any,
) -> dict[str, Any]:
    """Train the candidate with each fresh seed and the full recipe (--full-epochs: the
    registered model is one of it) and measure it on the held-out split: the recheck split, or
    the test split without one. The seeds go out as one task per worker (`seed_groups`), each
    group trained in one pass. The record keeps the held-out split's MLflow description
    (`datasets`) for the confirmation run."""
    s = ctx.settings
    groups = seed_groups(ctx.confirm_seeds, s.workers)
    refs = [
        executor.submit(
            TrainingRequest(
                config_from_dict(point.config),
                s.training.full_recipe,
                tuple(group),
                every_model=True,
                kind="confirm",
                int8_calibration=calibration,
            ),
            data_refs[0],
            data_refs[1],
            held_out_ref,
        )
        for group in groups
    ]
    base = {
        "seeds": ctx.confirm_seeds,
        "judge": s.selection.judge,
        "recheck_size": s.held_out.recheck_size,
        "run_id": None,
        "datasets": [held_out_dataset.to_dict()],
    }
    try:
        outcomes: list[SeedsOutcome] = [executor.result(ref) for ref in refs]
    except TrialError as exc:
        return base | {
            "val_accuracies": [],
            "recheck_accuracies": [],
            "recheck_passed": False,
            "test_accuracies": [],
            "passed": False,
            "error": str(exc)[:500],
        }
    # The groups are contiguous runs of the seeds, in order: concatenated, they follow the seeds.
    val = [acc for o in outcomes for acc in o.val_accuracies]
    held_out: list[float] = []
    for o in outcomes:
        assert o.test_accuracies is not None  # a confirmation sends a held-out split, never races
        held_out += o.test_accuracies
    int8 = [acc for o in outcomes for acc in o.int8_test_accuracies or []]
    models = [model for o in outcomes for model in o.seed_models]
    int8_files = [blob for o in outcomes for blob in o.seed_int8]
    median = sorted(range(len(val)), key=lambda i: val[i])[(len(val) - 1) // 2]
    record = base | {"val_accuracies": val, "median_seed": ctx.confirm_seeds[median]}
    # Spooled first: the run may have to wait for MLflow (see search/study/_records.py); with a
    # recheck every seed's model is kept, for the test split if this candidate becomes the pick.
    for seed, model_keras in zip(ctx.confirm_seeds, models, strict=True):
        write_bytes_atomic(_spooled_model(records, point.summary, seed), model_keras)
    for seed, blob in zip(ctx.confirm_seeds, int8_files, strict=False):
        write_bytes_atomic(_spooled_int8(records, point.summary, seed), blob)
    if s.held_out.recheck_size:
        return record | {
            "recheck_accuracies": held_out,
            "int8_recheck_accuracies": int8,
            "recheck_passed": _holds(held_out, int8, s.recheck_floor),
        }
    record |= {
        "recheck_accuracies": [],
        "int8_recheck_accuracies": [],
        "recheck_passed": None,
        "test_accuracies": held_out,
        "int8_test_accuracies": int8,
        "passed": _holds(held_out, int8, s.selection.min_accuracy),
    }
    return log_confirmation(ctx, records, point, record)


def _test_pick(
    ctx: StudyContext,
    records: TrialRecords,
    source: DataSource,
    point: TrialPoint,
    record: dict[str, Any],
) -> dict[str, Any]:
    """The test split, read once: each seed's spooled model of the pick measured on it (and
    its int8 file, judged as int8)."""
    test = source.test()
    accuracies = [
        saved_model_accuracy(_spooled_model(records, point.summary, seed).read_bytes(), test)
        for seed in record["seeds"]
    ]
    int8 = []
    if record.get("int8_recheck_accuracies"):
        x = test.x.astype("float32") / 255.0
        int8 = [
            litert_accuracy(_spooled_int8(records, point.summary, seed).read_bytes(), x, test.y)
            for seed in record["seeds"]
        ]
    record = record | {
        "test_accuracies": accuracies,
        "int8_test_accuracies": int8,
        "datasets": [*record.get("datasets", []), input_dataset(source, "test", test).to_dict()],
        "passed": _holds(accuracies, int8, ctx.settings.selection.min_accuracy),
    }
    ctx.study.set_user_attr(CONFIRMATION_ATTR_PREFIX + point.summary, record)
    fail_point("confirm.tested")
    return record


def log_confirmation(
    ctx: StudyContext, records: TrialRecords, point: TrialPoint, record: dict[str, Any]
) -> dict[str, Any]:
    """Write the confirmation's child run (with the spooled median model); the record gains its
    run id, or keeps None while MLflow is unreachable."""
    trial_number, summary = point.number, point.summary
    seeds, val = record["seeds"], record["val_accuracies"]
    test, recheck = record.get("test_accuracies") or [], record.get("recheck_accuracies") or []
    int8_test = record.get("int8_test_accuracies") or []
    int8_recheck = record.get("int8_recheck_accuracies") or []
    metrics = seed_metrics("val", seeds, val) | {
        "worst_case_val_accuracy": min(val),
        "params": point.params,
    }
    if recheck:
        metrics |= seed_metrics("recheck", seeds, recheck) | {
            "worst_case_recheck_accuracy": min(recheck)
        }
    if test:
        metrics |= seed_metrics("test", seeds, test) | {"worst_case_test_accuracy": min(test)}
    if int8_recheck:
        metrics |= seed_metrics("int8_recheck", seeds, int8_recheck) | {
            "worst_case_int8_recheck_accuracy": min(int8_recheck)
        }
    if int8_test:
        metrics |= seed_metrics("int8_test", seeds, int8_test) | {
            "worst_case_int8_test_accuracy": min(int8_test)
        }
    model_path = _spooled_model(records, summary, record["median_seed"])
    logged = records.attempt(
        lambda: records.tracker.log_confirmation(
            f"confirm-trial-{trial_number}",
            {
                "summary": summary,
                "trial_number": trial_number,
                "epochs": ctx.settings.training.full_recipe.epochs,
                "judge": record.get("judge", "float"),
            },
            metrics,
            {
                "study": ctx.settings.study_name,
                "trial_number": str(trial_number),
                "summary": summary,
                "seeds": ",".join(map(str, seeds)),
                "passed": str(bool(record.get("passed"))).lower(),
                "floor": str(ctx.settings.selection.min_accuracy),
            },
            model_path.read_bytes(),
            [InputDataset.from_dict(d) for d in record.get("datasets", [])],
        )
    )
    if logged is None:
        return record
    fail_point("confirm.logged")
    record = record | {"run_id": logged[0]}
    # Stored before the spooled models go: a driver killed in between finds the run id, not a
    # record that points at models no longer there.
    ctx.study.set_user_attr(CONFIRMATION_ATTR_PREFIX + summary, record)
    _unspool(records, summary, seeds)
    return record


def _confirmation(point: TrialPoint, record: dict[str, Any]) -> Confirmation:
    test = record.get("test_accuracies")
    int8_test = record.get("int8_test_accuracies") or []
    return Confirmation(
        trial_number=point.number,
        summary=point.summary,
        params=point.params,
        seeds=record["seeds"],
        val_accuracies=record["val_accuracies"],
        recheck_accuracies=record.get("recheck_accuracies") or [],
        recheck_passed=record.get("recheck_passed"),
        test_accuracies=test or [],
        worst_case_test_accuracy=min(test) if test else None,
        passed=bool(record.get("passed")),
        judge=record.get("judge", "float"),
        int8_recheck_accuracies=record.get("int8_recheck_accuracies") or [],
        int8_test_accuracies=int8_test,
        worst_case_int8_test_accuracy=min(int8_test) if int8_test else None,
    )


def _verdict(ctx: StudyContext, confirmation: Confirmation) -> str:
    s = ctx.settings
    parts = []
    if confirmation.recheck_accuracies:
        parts.append(
            f"{_worst_cases(confirmation.__dict__, 'recheck')} "
            f"{'>=' if confirmation.recheck_passed else 'below'} {s.recheck_floor:.4f}"
        )
    if confirmation.worst_case_test_accuracy is not None:
        parts.append(
            f"{_worst_cases(confirmation.__dict__, 'test')}: "
            f"{'holds' if confirmation.passed else 'below'} the floor {s.selection.min_accuracy}"
        )
    return "  " + ("; ".join(parts) or "not trained: " + str(confirmation.summary))


def _int8_calibration(source: DataSource, ctx: StudyContext) -> Any:
    """Judged as int8: the images `pull --format tflite-int8` calibrates with by default (its
    rows of the training file less the validation images), so the file judged here is the file
    `pull` writes, byte for byte. They only set activation ranges (no labels are read)."""
    s = ctx.settings
    if s.selection.judge != "int8":
        return None
    train, _ = source.train_val(s.held_out.val_size)
    rows = calibration_rows(len(train.x), min(CALIBRATION_IMAGES, len(train.x)))
    return train.x[rows].astype("float32") / 255.0


def _holds(accuracies: list[float], int8: list[float], floor: float) -> bool:
    """Every seed's float model clears `floor`, and its int8 file too when judged as int8."""
    return bool(accuracies) and min(accuracies + int8) >= floor


def _worst_cases(record: dict[str, Any], split: str) -> str:
    """'worst-case recheck accuracy 0.9712 float, 0.9705 int8' (int8 when it was judged)."""
    text = f"worst-case {split} accuracy {min(record[f'{split}_accuracies']):.4f}"
    int8 = record.get(f"int8_{split}_accuracies")
    return f"{text} float, {min(int8):.4f} int8" if int8 else text


def _unspool(records: TrialRecords, summary: str, seeds: list[int]) -> None:
    for seed in seeds:
        _spooled_model(records, summary, seed).unlink(missing_ok=True)
        _spooled_int8(records, summary, seed).unlink(missing_ok=True)


def _spooled_model(records: TrialRecords, summary: str, seed: int) -> Any:
    return records.spool / f"confirm-{summary.replace('|', '_')}-seed{seed}.keras"


def _spooled_int8(records: TrialRecords, summary: str, seed: int) -> Any:
    return records.spool / f"confirm-{summary.replace('|', '_')}-seed{seed}.int8.tflite"
