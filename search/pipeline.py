"""`slimtune search` end to end: check input, open the study, run the planner's trials on Ray,
analyse, confirm, register, write result.json, the trials table and the figures (also logged to
the parent MLflow run)."""

from __future__ import annotations

import os
import time
from collections.abc import Container
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from slimtune.search._data import DataSource, Split, class_count, image_shape, resolve
from slimtune.search._errors import UsageError
from slimtune.search._failpoints import fail_point
from slimtune.search._progress import Progress
from slimtune.search._settings import HeldOut, SearchSettings, SizedSettings
from slimtune.search.analysis import (
    CONFIRMATION_ATTR_PREFIX,
    TRIALS_CSV,
    Chosen,
    FrontPoint,
    SearchResult,
    StudyInfo,
    TrialRow,
    best_per_size_band,
    best_worst_case,
    confirm_candidates,
    feasible_candidates,
    pareto_front,
    trials_csv,
    write_figures,
)
from slimtune.search.execution import (
    Executor,
    InlineExecutor,
    Interrupted,
    RayExecutor,
    ray_address_reachable,
    run_trials,
)
from slimtune.search.study import (
    NoRecords,
    Peers,
    RideOut,
    StudyContext,
    TrialRecords,
    check_measurable,
    count_states,
    creation_lock,
    data_digests,
    footprint_of,
    input_dataset,
    input_example,
    mutex,
    open_study,
    planner_class,
    requeue_interrupted,
    storage_lock,
    trial_points,
    trial_rows,
)
from slimtune.spaces import (
    BuildFailed,
    CNNConfig,
    Footprint,
    HyperModelConfig,
    HyperModelSpace,
    SearchSpace,
    build_config,
    check_fits,
    footprint_of_model,
    is_hypermodel_config,
    load_space,
    preset,
    resolve_hypermodel,
)
from slimtune.trackers import (
    BUDGET_TAG_PREFIX,
    MlflowTracker,
    TrackerUnavailable,
    TrackingUriError,
    check_tracking_server,
    redact,
    write_bytes_atomic,
    write_json_atomic,
)

FIGURES_FOLDER = "figures"  # <out>/figures: the parent run's plots, also kept beside result.json


def run_search(
    settings: SearchSettings,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> SearchResult:
    """Run (or resume) a search; every bad input is refused before any state is touched.

    Ctrl-C/SIGTERM raise `Interrupted` after the running trials are recorded as interrupted and a
    partial result.json (no `chosen`) is written. `executor` runs the trainings instead of a
    RayExecutor built from the settings (benchmarks/driver_scale.py simulates a cluster with it);
    the caller owns it (it is not closed here).
    """
    started = time.monotonic()
    progress = progress or Progress()
    s = settings.resolved()
    out = Path(s.study.out)
    # Every input is checked before anything is created (the --out folder) or fetched (MNIST).
    check_writable(out)
    space = _load_space(s)
    if isinstance(space, HyperModelSpace):
        # a file path made absolute for the workers
        s = replace(s, strategy=replace(s.strategy, hypermodel=space.hypermodel))
    try:
        check_tracking_server(s.tracking_uri)
    except TrackingUriError as exc:
        raise UsageError(str(exc)) from None
    if s.execution.ray_address and not ray_address_reachable(s.execution.ray_address):
        raise UsageError(
            f"--ray-address {s.execution.ray_address}: no Ray cluster answers there; start it "
            "first (ray start --head) or leave the flag out for a local Ray"
        )
    source = resolve(s.data.dataset, Path(s.data.data_dir) if s.data.data_dir else None)
    source.check()
    s = s.sized_for(source.training_images())
    train, val = source.train_val(
        s.held_out.val_size, s.data.train_subset, holdout=s.held_out.recheck_size
    )
    if isinstance(space, HyperModelSpace):
        check_hypermodel(s, space, image_shape(train), class_count(train, val))
    ensure_writable(out)
    ride_out = RideOut(s.storage, progress.note)  # a restart of the study's database server
    with storage_lock(s) as exclusive:
        with creation_lock(s.storage, ride_out):
            ctx = _open(s, space, train, val, ride_out=ride_out)
        ctx.started = started
        ctx.peers = Peers(ctx.study, s.storage, exclusive, ride_out)
        requeued = requeue_interrupted(ctx)
        if requeued:
            progress.note(
                f"{requeued} trial(s) interrupted by an earlier stop were marked failed "
                "and queued again"
            )
        tracker = _tracker(s, out)
        records = TrialRecords(
            tracker, s.study_name, out / "spool", progress, ctx.peers, s.tracking.log_models
        )
        if exclusive:
            tracker.close_stale_runs(s.study_name)
        tracker.start_parent(
            f"search-{s.study_name}",
            _parent_params(s),
            {"study": s.study_name, "storage": redact(s.storage)},
            datasets=[
                input_dataset(source, "training", train),
                input_dataset(source, "validation", val),
            ],
            input_example=input_example(train),
        )
        progress.note(
            f"study {s.study_name!r} in {redact(s.storage)}; MLflow at {redact(s.tracking_uri)}"
        )
        try:
            result = _search_and_confirm(ctx, records, source, train, val, progress, executor)
        except Interrupted:
            _write_trials_table(ctx, out)
            write_json_atomic(out / "result.json", _partial_result(ctx, tracker).to_dict())
            records.attempt(lambda: tracker.end_parent("KILLED"))
            raise
        except BaseException:
            records.attempt(lambda: tracker.end_parent("FAILED"))
            raise
        finally:
            ctx.peers.finish()
        fail_point("result.writing")
        rows = _write_trials_table(ctx, out)
        write_json_atomic(out / "result.json", result.to_dict())
        figures = write_figures(result.to_dict(), rows, out / FIGURES_FOLDER)
        records.attempt(
            lambda: tracker.log_parent_artifacts([out / "result.json", out / TRIALS_CSV, *figures])
        )
        records.attempt(lambda: tracker.end_parent("FINISHED"))
    return result


def _write_trials_table(ctx: StudyContext, out: Path) -> list[TrialRow]:
    """<out>/trials.csv: every trial as the report and the figures read it."""
    rows = trial_rows(ctx)
    write_bytes_atomic(out / TRIALS_CSV, trials_csv(rows).encode())
    return rows


def run_study_in_process(
    settings: SearchSettings,
    train: Split,
    val: Split,
    space: SearchSpace | HyperModelSpace | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> optuna.Study:
    """The search's own planner and trial loop in this process (`executor`, by default an
    InlineExecutor; no MLflow, no confirmation): for benchmarks that compare strategies or
    samplers, and tests. `sampler` replaces the planner's. Resumes like `run_search` (same
    storage and study name)."""
    # The caller split the data: validation is `val`, and nothing is held out for a recheck.
    s = settings.resolved().with_held_out(HeldOut(len(val.x), 0))
    ensure_writable(Path(s.study.out))
    space = space or _load_space(s)
    with storage_lock(s):
        ctx = _open(s, space, train, val, sampler)
        ctx.peers = Peers(ctx.study, s.storage, exclusive=True)
        requeue_interrupted(ctx)
        run_trials(
            planner_class(s)(ctx, ctx.peers),
            executor or InlineExecutor(s.execution.cpus_per_trial),
            NoRecords(),
            (train, val),
            progress or Progress(),
        )
    return ctx.study


def _load_space(s: SearchSettings) -> SearchSpace | HyperModelSpace:
    """--hypermodel (loaded now: an import error is refused before anything is touched), else
    the --space TOML or the default space."""
    if s.strategy.hypermodel:
        return HyperModelSpace(resolve_hypermodel(s.strategy.hypermodel))
    return load_space(Path(s.strategy.space) if s.strategy.space else None)


def check_hypermodel(
    s: SearchSettings, space: HyperModelSpace, input_shape: tuple[int, int, int], num_classes: int
) -> None:
    """Refuse a HyperModel whose default model does not build, does not fit the data, or has a
    layer the footprint walk does not know while a budget needs it (HyperModelError /
    UsageError, one line each)."""
    try:
        model = build_config(HyperModelConfig(space.hypermodel, ()))
    except BuildFailed as exc:
        raise UsageError(
            f"--hypermodel {space.hypermodel}: with its default values, {exc}; fix build(hp)"
        ) from None
    check_fits(model, space.hypermodel, input_shape, num_classes)
    measured = footprint_of_model(model)
    check_measurable(
        s, HyperModelConfig(space.hypermodel, (), measured.footprint, measured.unknown_layer)
    )


def check_writable(folder: Path) -> None:
    """Refuse a `folder` that could not be created or written, without creating it."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"--out {folder}: {existing} is a file, not a folder; choose a folder you can write to"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"--out {folder}: not writable ({existing} is read-only to you); choose "
            "a folder you can write to"
        )


def ensure_writable(folder: Path) -> None:
    """Create `folder` and prove it is writable, before anything else is touched."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--out {folder}: not writable ({exc.strerror}); choose a folder you can write to"
        ) from None


def _open(
    s: SizedSettings,
    space: SearchSpace | HyperModelSpace,
    train: Split,
    val: Split,
    sampler: optuna.samplers.BaseSampler | None = None,
    ride_out: RideOut | None = None,
) -> StudyContext:
    """Create or resume the study with the sampler of the strategy `s` asks for."""
    input_shape, num_classes = image_shape(train), class_count(train, val)
    sampler = sampler or planner_class(s).sampler(s, space, input_shape, num_classes)
    return open_study(
        s,
        space,
        s.training.recipe,
        input_shape,
        num_classes,
        sampler,
        data={"training": train.digest, "validation": val.digest},
        ride_out=ride_out,
    )


def _tracker(s: SizedSettings, out: Path) -> MlflowTracker:
    try:
        return MlflowTracker(
            s.tracking_uri,
            s.study_name,
            artifact_location=_local_artifacts(s, out),
            checkpoint=fail_point,
        )
    except TrackerUnavailable:
        raise UsageError(
            f"--tracking-uri {redact(s.tracking_uri)}: the MLflow server stopped "
            "answering; start it and run the same command again"
        ) from None


def _search_and_confirm(
    ctx: StudyContext,
    records: TrialRecords,
    source: DataSource,
    train: Any,
    val: Any,
    progress: Progress,
    executor: Executor | None = None,
) -> SearchResult:
    s = ctx.settings
    assert ctx.peers is not None  # run_search found them before the search
    with _executor(s, executor) as executor:
        data_refs = (executor.put(train), executor.put(val))
        run_trials(planner_class(s)(ctx, ctx.peers), executor, records, data_refs, progress)
        points = trial_points(ctx)
        with mutex(ctx.peers):  # a peer sharing --out must not attach the same spooled model
            records.attach_models(_models_wanted(ctx, points))
        candidates = feasible_candidates(points, s.validation_floor)
        with mutex(ctx.peers):  # a second driver of the study then reuses our confirmations
            chosen_point, confirmations, record = confirm_candidates(
                ctx, executor, records, data_refs, source, candidates, progress
            )
    chosen = None
    registry: dict[str, Any] = {"registered_model_name": None, "registered_model_version": None}
    if chosen_point is not None:
        fp = (
            Footprint(**ctx.study.trials[chosen_point.number].user_attrs["footprint"])
            if is_hypermodel_config(chosen_point.config)
            else footprint_of(ctx, CNNConfig.from_dict(chosen_point.config))
        )
        trial = ctx.study.trials[chosen_point.number]
        chosen = Chosen(
            trial_number=chosen_point.number,
            summary=chosen_point.summary,
            config=chosen_point.config,
            footprint=fp.to_dict(),
            search_seeds=trial.user_attrs["seeds"],
            search_val_accuracies=trial.user_attrs["val_accuracies"],
            seeds=record["seeds"],
            val_accuracies=record["val_accuracies"],
            test_accuracies=record["test_accuracies"],
            worst_case_val_accuracy=min(record["val_accuracies"]),
            worst_case_test_accuracy=min(record["test_accuracies"]),
            recheck_accuracies=record.get("recheck_accuracies") or [],
            registered_seed=record.get("median_seed"),
            judge=record.get("judge", "float"),
            int8_recheck_accuracies=record.get("int8_recheck_accuracies") or [],
            int8_test_accuracies=record.get("int8_test_accuracies") or [],
            worst_case_int8_test_accuracy=(
                min(record["int8_test_accuracies"]) if record.get("int8_test_accuracies") else None
            ),
        )
        with mutex(ctx.peers):
            registry = _register(ctx, records, chosen, record)
    pending = records.pending(ctx.study)
    if pending or not records.online:
        ctx.messages.append(
            f"MLflow at {redact(s.tracking_uri)} was unreachable: {pending} trial "
            "run(s), spooled models and the registration wait; run the same "
            "command again once it answers to write them"
        )
    return SearchResult(
        study=_study_info(ctx),
        floor=s.selection.min_accuracy,
        size_objective=s.strategy.size_objective,
        selection=_selection(s),
        chosen=chosen,
        confirmations=confirmations,
        front=_front(ctx, points),
        baseline=_baseline(ctx, chosen),
        mlflow=_mlflow_info(ctx, records.tracker) | registry,
        message=_message(ctx, points, chosen, confirmations),
    )


def _executor(s: SizedSettings, given: Executor | None) -> AbstractContextManager[Executor]:
    """The caller's executor (left open), else Ray's as the settings ask (closed after use)."""
    if given is not None:
        return nullcontext(given)
    return RayExecutor(
        s.execution.ray_address,
        s.workers,
        s.execution.cpus_per_trial,
        s.execution.max_retries,
    )


def _models_wanted(ctx: StudyContext, points: list) -> Container[int]:
    """The trial numbers whose spooled models go to MLflow at the end of the search (every
    trial's that an earlier invocation left under another --log-models value, too)."""
    mode = ctx.settings.tracking.log_models
    if mode == "all":
        return range(len(ctx.study.trials))
    if mode == "front":  # result.json's front: today's budgets, ties kept
        return {p.number for p in pareto_front(points)}
    return set()


def _partial_result(ctx: StudyContext, tracker: MlflowTracker) -> SearchResult:
    """What an interrupted search knows: the trials and front so far, nothing chosen."""
    points = trial_points(ctx)
    finished = sum(
        1 for t in ctx.study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    )
    return SearchResult(
        study=_study_info(ctx),
        floor=ctx.settings.selection.min_accuracy,
        size_objective=ctx.settings.strategy.size_objective,
        selection=_selection(ctx.settings),
        chosen=None,
        confirmations=[],
        front=_front(ctx, points),
        baseline=_baseline(ctx, None),
        mlflow=_mlflow_info(ctx, tracker)
        | {"registered_model_name": None, "registered_model_version": None},
        message=f"interrupted with {finished} of {ctx.settings.study.trials} trials finished; "
        "run the same command again to resume",
    )


def _selection(s: SizedSettings) -> dict[str, Any]:
    """The selection rule with its numbers, for result.json (README "How a search works")."""
    from slimtune.search.training import PROMOTION_ERROR_RATIO

    return {
        "strategy": s.strategy.strategy,
        "confidence": s.selection.confidence,
        "epochs": s.training.epochs,
        "full_epochs": s.training.full_recipe.epochs,
        "promotion_error_ratio": PROMOTION_ERROR_RATIO if s.promotes else None,
        "val_size": s.held_out.val_size,
        "validation_floor": round(s.validation_floor, 6),
        "recheck_size": s.held_out.recheck_size,
        "recheck_floor": round(s.recheck_floor, 6) if s.held_out.recheck_size else None,
        "confirm_candidates": s.selection.confirm_candidates,
        "rule": "feasible on validation: worst seed >= validation_floor; candidates smallest "
        "first, retrained with fresh seeds and full_epochs; the first whose worst seed "
        "on the recheck "
        "split >= recheck_floor is the pick; the test split is read once, for the "
        "pick"
        if s.held_out.recheck_size
        else "feasible on validation: worst seed >= validation_floor; candidates smallest "
        "first, retrained with fresh seeds and full_epochs on the test split; the "
        "first that holds "
        "the floor is chosen",
    }


def _front(ctx: StudyContext, points: list) -> list[FrontPoint]:
    floor = ctx.settings.validation_floor
    return [
        FrontPoint(
            p.number,
            p.summary,
            p.params,
            p.size,
            p.worst_case_val_accuracy,
            p.worst_case_val_accuracy >= floor,
        )
        for p in pareto_front(points)
    ]


def _model_card(ctx: StudyContext, chosen: Chosen, run_id: str) -> str:
    """The registered version's description (Markdown): what it is, how it was trained and
    chosen, and how it fared, so the registry alone tells a user what they pull."""
    s, fp = ctx.settings, chosen.footprint
    recipe = s.training.full_recipe

    def accuracies(seeds: list[int], values: list[float]) -> str:
        pairs = zip(seeds, values, strict=False)
        return ", ".join(f"seed {seed}: {value:.4f}" for seed, value in pairs) + (
            f" (worst {min(values):.4f})" if values else ""
        )

    lines = [
        f"Smallest configuration found by slimtune that holds worst-case accuracy "
        f"{s.selection.min_accuracy} on `{s.data.dataset_name}`: `{chosen.summary}`.",
        "",
        f"- footprint: {fp['params']:,} params, {fp['weight_bytes_int8']:,} int8 weight bytes, "
        f"{fp['peak_activation_bytes_int8']:,} int8 peak activation bytes, {fp['macs']:,} MACs "
        "per image (deployed: BatchNorm folded)",
        f"- recipe: {recipe.optimizer} at peak learning rate {recipe.learning_rate} "
        f"({recipe.schedule}), batch {recipe.batch_size}, {recipe.epochs} epochs "
        f"(the search trained {s.training.epochs}; near misses and this model {recipe.epochs})",
        f"- search (study `{s.study_name}`, trial {chosen.trial_number}), validation: "
        + accuracies(chosen.search_seeds, chosen.search_val_accuracies),
        "- confirmation with fresh seeds, validation: "
        + accuracies(chosen.seeds, chosen.val_accuracies),
    ]
    if chosen.recheck_accuracies:
        lines.append(
            f"- recheck split ({s.held_out.recheck_size:,} held-out training images, floor "
            f"{s.recheck_floor:.4f}): " + accuracies(chosen.seeds, chosen.recheck_accuracies)
        )
    if chosen.int8_recheck_accuracies:
        lines.append(
            "- recheck split as the full-integer int8 LiteRT file (`pull --format tflite-int8`, "
            "judged with --judge int8): " + accuracies(chosen.seeds, chosen.int8_recheck_accuracies)
        )
    digests = data_digests(ctx.study)
    if digests:
        lines.append(
            "- data (content digests, as the runs' MLflow inputs list them): "
            + ", ".join(f"{split} `{digest}`" for split, digest in digests.items())
        )
    lines += [
        "- test split, read once for this model: "
        + accuracies(chosen.seeds, chosen.test_accuracies),
        *(
            [
                "- test split as the int8 file: "
                + accuracies(chosen.seeds, chosen.int8_test_accuracies)
            ]
            if chosen.int8_test_accuracies
            else []
        ),
        f"- confirmation run `{run_id}`; model: the median confirmation seed; input float32 "
        "images scaled to [0, 1]",
    ]
    return "\n".join(lines)


def _mlflow_info(ctx: StudyContext, tracker: MlflowTracker) -> dict[str, Any]:
    return {
        "tracking_uri": redact(ctx.settings.tracking_uri),
        "experiment": ctx.settings.study_name,
        "experiment_id": tracker.experiment_id,
        "parent_run_id": tracker.parent_run_id,
    }


def _register(
    ctx: StudyContext, records: TrialRecords, chosen: Chosen, record: dict[str, Any]
) -> dict[str, Any]:
    """Register the confirmed model once; a resumed search reuses the stored version. While
    MLflow is unreachable nothing is registered and the next invocation does it."""
    s = ctx.settings
    record = ctx.study.user_attrs.get(
        CONFIRMATION_ATTR_PREFIX + chosen.summary, record
    )  # another driver's?
    if record.get("run_id") and (
        record.get("model_name") != s.model_name or not record.get("model_version")
    ):
        version = records.attempt(
            lambda: records.tracker.register_champion(
                record["run_id"],
                s.model_name,
                {
                    "floor": str(s.selection.min_accuracy),
                    "study": s.study_name,
                    "worst_case_test_accuracy": f"{chosen.worst_case_test_accuracy:.6f}",
                    "judge": chosen.judge,
                    # the device budgets, for `pull` to check the file it writes against
                    **{
                        BUDGET_TAG_PREFIX + name: str(limit)
                        for name, (_, limit) in s.budgets.limits().items()
                    },
                    **(
                        {
                            "worst_case_int8_test_accuracy": (
                                f"{chosen.worst_case_int8_test_accuracy:.6f}"
                            )
                        }
                        if chosen.worst_case_int8_test_accuracy is not None
                        else {}
                    ),
                    "params": str(chosen.footprint["params"]),
                    "summary": chosen.summary,
                },
                _model_card(ctx, chosen, record["run_id"]),
            )
        )
        if version is not None:
            record = record | {"model_name": s.model_name, "model_version": version}
            ctx.study.set_user_attr(CONFIRMATION_ATTR_PREFIX + chosen.summary, record)
    if not record.get("model_version") or record.get("model_name") != s.model_name:
        return {
            "registered_model_name": None,
            "registered_model_version": None,
            "model_uri": None,
            "confirmation_run_id": record.get("run_id"),
        }
    return {
        "registered_model_name": record["model_name"],
        "registered_model_version": record["model_version"],
        "model_uri": f"models:/{record['model_name']}@champion",
        "confirmation_run_id": record["run_id"],
    }


def _study_info(ctx: StudyContext) -> StudyInfo:
    counts = count_states(ctx.study)
    return StudyInfo(
        name=ctx.settings.study_name,
        storage=redact(ctx.settings.storage),
        n_complete=counts[TrialState.COMPLETE],
        n_failed=counts[TrialState.FAIL],
        n_pruned=counts[TrialState.PRUNED],
    )


def _baseline(ctx: StudyContext, chosen: Chosen | None) -> dict[str, Any]:
    base = footprint_of(ctx, preset("paper-base"))
    reductions = None
    if chosen is not None:
        fp = Footprint(**chosen.footprint)
        reductions = {
            "params": base.params / fp.params,
            "weight_bytes_fp32": base.weight_bytes_fp32 / fp.weight_bytes_fp32,
            "weight_bytes_int8": base.weight_bytes_int8 / fp.weight_bytes_int8,
        }
    return {
        "name": "paper-base",
        "summary": preset("paper-base").summary(),
        "footprint": base.to_dict(),
        "reduction": reductions,
    }


def _message(ctx: StudyContext, points: list, chosen: Chosen | None, confirmations: list) -> str:
    s = ctx.settings
    notes = " ".join(ctx.messages)
    if chosen is not None:
        return (
            f"chose trial {chosen.trial_number} {chosen.summary}: {chosen.footprint['params']:,} "
            f"params, worst-case test accuracy {chosen.worst_case_test_accuracy:.4f}"
            + (
                f" (int8 file {chosen.worst_case_int8_test_accuracy:.4f})"
                if chosen.worst_case_int8_test_accuracy is not None
                else ""
            )
            + f" >= {s.selection.min_accuracy}. {notes}"
        ).strip()
    best = best_worst_case(points)
    reached = (
        f"best worst-case validation accuracy reached: {best.worst_case_val_accuracy:.4f} "
        f"(trial {best.number} {best.summary}, {best.params:,} params); "
        + _how_close(ctx, points, confirmations)
        if best
        else "no trial completed within the budgets"
    )
    picked = next((c for c in confirmations if c.recheck_passed), None)
    if picked is not None:
        failed = (
            f"; trial {picked.trial_number} {picked.summary} held the recheck split but "
            f"reached {picked.worst_case_test_accuracy:.4f} worst case on the test split, "
            "so nothing is registered (trying another candidate on test would select on "
            "it)"
        )
    else:
        failed = (
            f"; {len(confirmations)} candidate(s) held the floor on validation but not on "
            f"the {'recheck' if s.held_out.recheck_size else 'test'} split"
            if confirmations
            else ""
        )
    floor = s.selection.min_accuracy
    return f"no configuration met the floor {floor}{failed}; {reached}. {notes}".strip()


def _how_close(ctx: StudyContext, points: list, confirmations: list) -> str:
    """How close the search came, per size band, against the validation floor, and which flag
    would buy more: larger models while accuracy still grew with size, else more training."""
    s = ctx.settings
    bands = best_per_size_band(points)
    per_band = ", ".join(
        f"{low:,}-{f'{high - 1:,}' if high else ''}: {p.worst_case_val_accuracy:.4f}"
        for low, high, p in bands
    )
    text = f"best worst case per size band (params) {per_band} against {s.validation_floor:.4f}"
    floor = s.recheck_floor if s.held_out.recheck_size else s.selection.min_accuracy
    int8_failed = [
        c
        for c in confirmations
        if (c.int8_recheck_accuracies or c.int8_test_accuracies)
        and min(c.recheck_accuracies or c.test_accuracies)
        >= floor
        > min(c.int8_recheck_accuracies or c.int8_test_accuracies)
    ]
    if int8_failed:
        return (
            f"{text}; {len(int8_failed)} candidate(s) held as float but not as int8: "
            "--judge float accepts the float model"
        )
    largest = bands[-1][2].worst_case_val_accuracy
    if len(bands) > 1 and largest > max(p.worst_case_val_accuracy for _, _, p in bands[:-1]):
        more = "accuracy still grew with size: more time (--timeout, --trials) or larger blocks"
    else:
        more = "size stopped helping: train longer (--epochs, --full-epochs) or augment (--augment)"
    return f"{text}; {more}"


def _parent_params(s: SizedSettings) -> dict[str, Any]:
    hidden = {"tracking_uri", "storage"}  # may carry credentials
    return {k: v for k, v in s.to_dict().items() if k not in hidden and v is not None}


def _local_artifacts(s: SizedSettings, out: Path) -> str | None:
    """Artifacts next to a local SQLite tracking store; a server keeps its own artifact root."""
    return (out / "mlartifacts").as_uri() if s.tracking_uri.startswith("sqlite") else None
