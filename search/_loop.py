"""The trial loop: ask Optuna, prune what breaks a budget, train the rest on Ray, tell Optuna,
log each trial once to MLflow."""
from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import TrialState

from search._drivers import Drivers
from search._executor import RayExecutor, TrialError
from search._interrupt import Interrupted, uninterruptible
from search._progress import Progress
from search._records import TrialRecords
from search._focus import FOCUS_REASON, smallest_feasible
from search._study import (StudyContext, budget_violations, footprint_of,
                           holds_floor_and_budgets, record_outcome, record_proposal,
                           set_constraints)
from search._stopping import required_accuracy
from search._trainer import SeedsOutcome
from spaces import CNNConfig, Footprint

WAIT_FOR_OTHERS_S = 2.0


def run_trials(ctx: StudyContext, executor: RayExecutor, records: TrialRecords,
               data_refs: tuple[Any, Any], progress: Progress) -> None:
    """Run trials until the study holds `settings.trials` finished (complete or pruned) trials.

    On Ctrl-C/SIGTERM the running trials are cancelled, marked failed (interrupted) with their
    runs KILLED, and queued again for the next invocation; then `Interrupted` propagates.
    """
    settings, study = ctx.settings, ctx.study
    drivers = ctx.drivers or Drivers(study, settings.storage, exclusive=True)
    records.backfill(study)  # records a dead driver or an MLflow outage never wrote
    finished = sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    pending: dict[Any, tuple[optuna.Trial, CNNConfig, Footprint]] = {}
    failures = 0
    progress.start(settings.trials, finished)
    last_beat = time.monotonic()
    deadline = None if settings.timeout is None else last_beat + settings.timeout
    timed_out = False
    try:
        while True:
            while len(pending) < settings.workers and not timed_out:
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True  # like Optuna's timeout: no new trial, running ones finish
                    waiting = f"; waiting for the {len(pending)} running" if pending else ""
                    progress.note(f"--timeout {settings.timeout:g}s reached: no new trials"
                                  f"{waiting}")
                    break
                with uninterruptible():
                    proposed = _propose(ctx, drivers)
                    if proposed is None:  # finished + running trials (all drivers') suffice
                        break
                    trial, config, fp = proposed
                    if fp is None or _prune_over_budget(ctx, trial, fp) \
                            or _prune_out_of_focus(ctx, trial, fp) \
                            or _reuse_duplicate(ctx, trial):
                        finished += 1
                        _record(ctx, records, progress, trial)
                        continue
                    ref = executor.submit(config.to_dict(), data_refs[0], data_refs[1],
                                          ctx.recipe, ctx.search_seeds, **_racing(ctx, trial, fp))
                    pending[ref] = (trial, config, fp)
            if not pending:
                if not timed_out and drivers.others_running():  # theirs may fail, leaving room
                    drivers.beat()
                    time.sleep(WAIT_FOR_OTHERS_S)
                    continue
                break
            for ref in executor.wait(list(pending), timeout_s=1.0):
                with uninterruptible():
                    trial, config, fp = pending.pop(ref)
                    if _tell_outcome(ctx, executor, ref, trial, fp, records, progress):
                        finished += 1
                    else:
                        failures += 1
            if time.monotonic() - last_beat > study._storage.get_heartbeat_interval() / 2:
                for trial, _, _ in pending.values():
                    study._storage.record_heartbeat(trial._trial_id)
                last_beat = time.monotonic()
            drivers.beat()
            if not records.online:
                records.backfill(study)
            if failures > max(3, settings.trials) and finished < settings.trials:
                ctx.messages.append(f"stopped early: {failures} trials failed in this run "
                                    "(reasons in MLflow and in the Optuna trials' fail_reason)")
                with uninterruptible():
                    _stop_pending(ctx, executor, records, pending, "cancelled: too many failures")
                break
    except Interrupted as exc:
        with uninterruptible():
            _stop_pending(ctx, executor, records, pending, f"interrupted by {exc}",
                          interrupted=True)
        progress.note(f"stopped by {exc}: {len(study.trials)} trials in the study; run the same "
                      "command again to resume")
        raise
    if timed_out and finished < settings.trials:
        ctx.messages.append(f"--timeout {settings.timeout:g}s reached with {finished} of "
                            f"{settings.trials} trials finished; run the same command again "
                            "to continue")
    records.backfill(study)
    drivers.beat(done=True)  # every trial of ours is recorded (or waits for MLflow)
    progress.stop()


def _tell_outcome(ctx: StudyContext, executor: RayExecutor, ref: Any, trial: optuna.Trial,
                  fp: Footprint, records: TrialRecords, progress: Progress) -> bool:
    """Tell Optuna how a trained trial ended and record it; False if it failed."""
    try:
        outcome: SeedsOutcome = executor.result(ref)
    except TrialError as exc:
        trial.set_user_attr("fail_reason", str(exc)[:500])
        ctx.study.tell(trial, state=TrialState.FAIL)
        _record(ctx, records, progress, trial)
        return False
    record_outcome(trial, outcome)
    set_constraints(ctx, trial, outcome.worst_case_val_accuracy, fp)
    if outcome.stopped_reason:  # racing / early stopping: cannot be feasible or improve the front
        trial.set_user_attr("prune_reason", f"stopped early: {outcome.stopped_reason}")
        ctx.study.tell(trial, state=TrialState.PRUNED)
    else:
        ctx.study.tell(trial, [outcome.worst_case_val_accuracy, ctx.size_of(fp)])
    _record(ctx, records, progress, trial, outcome.model_keras)
    return True


def _racing(ctx: StudyContext, trial: optuna.Trial, fp: Footprint) -> dict[str, Any]:
    """The trainer's early-stopping threshold for this trial (search/_stopping.py), if enabled."""
    if not ctx.settings.early_stopping:
        return {}
    required = _required(ctx, fp)
    trial.set_user_attr("required_accuracy", required)
    return {"required_accuracy": required}


def _required(ctx: StudyContext, fp: Footprint) -> float:
    completed = [(t.values[1], t.values[0]) for t in ctx.study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,))]
    return required_accuracy(ctx.settings.min_accuracy, ctx.size_of(fp), completed)


def _reuse_stopped_twin(ctx: StudyContext, trial: optuna.Trial, summary: str) -> bool:
    """A twin stopped early below a threshold at most today's would stop again the same way."""
    if not ctx.settings.early_stopping:
        return False
    fp = Footprint(**trial.user_attrs["footprint"])
    required = _required(ctx, fp)
    twin = next((t for t in ctx.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
                 if t.user_attrs.get("summary") == summary
                 and str(t.user_attrs.get("prune_reason", "")).startswith("stopped early")
                 and t.user_attrs.get("required_accuracy", 2.0) <= required), None)
    if twin is None:
        return False
    for key in ("seeds", "val_accuracies", "val_curves", "required_accuracy", "prune_reason"):
        if key in twin.user_attrs:
            trial.set_user_attr(key, twin.user_attrs[key])
    trial.set_user_attr("duplicate_of", twin.number)
    trial.set_user_attr("epochs_run", 0)
    set_constraints(ctx, trial, min(twin.user_attrs["val_accuracies"]), fp)
    ctx.study.tell(trial, state=TrialState.PRUNED)
    return True


def _record(ctx: StudyContext, records: TrialRecords, progress: Progress, trial: optuna.Trial,
            model_keras: bytes | None = None) -> None:
    frozen = ctx.study._storage.get_trial(trial._trial_id)
    records.log(frozen, model_keras)
    progress.trial_done(frozen, ctx)


def _stop_pending(ctx: StudyContext, executor: RayExecutor, records: TrialRecords,
                  pending: dict[Any, Any], reason: str, interrupted: bool = False) -> None:
    """Give up on the trials still running: cancel them, mark them failed, record them once.
    Interrupted ones are queued again (bounded by --max-retries) for the next invocation."""
    study = ctx.study
    retry = study._storage.get_heartbeat_stale_trial_callback()
    for ref, (trial, _, _) in list(pending.items()):
        executor.cancel(ref)
        trial.set_user_attr("fail_reason", reason)
        if interrupted:
            trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        frozen = study._storage.get_trial(trial._trial_id)
        if interrupted and retry is not None:
            retry(study, frozen)
        records.log(frozen)
        del pending[ref]


def _propose(ctx: StudyContext, drivers: Drivers | None = None
             ) -> tuple[optuna.Trial, CNNConfig, Footprint | None] | None:
    """The next trial and its configuration; None once the study holds --trials trials.

    The footprint is None for a configuration that cannot be built ('valid' padding shrank a
    feature map to nothing); that trial is already pruned.
    """
    drivers = drivers or ctx.drivers or Drivers(ctx.study, ctx.settings.storage, exclusive=True)
    trial = drivers.ask(ctx.settings.trials)
    if trial is None:
        return None
    config = ctx.space.suggest(trial)
    try:
        fp = footprint_of(ctx, config)
    except ValueError as exc:
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("summary", config.summary())
        trial.set_user_attr("prune_reason", f"cannot be built: {exc}")
        # Infeasible for the sampler: a plain pruned trial can land in TPE's "good" group, which
        # then proposes more that cannot be built (seen in the 60-minute search with focus).
        trial.set_constraint("buildable", 1.0)
        ctx.study.tell(trial, state=TrialState.PRUNED)
        return trial, config, None
    record_proposal(trial, config, fp)
    trial.set_user_attr("seeds", ctx.search_seeds)
    return trial, config, fp


def _prune_over_budget(ctx: StudyContext, trial: optuna.Trial, fp: Footprint) -> bool:
    """A configuration over a budget is known infeasible before training: prune it untrained."""
    over = {k: v for k, v in budget_violations(ctx.settings, fp).items() if v > 0}
    if not over:
        return False
    set_constraints(ctx, trial, None, fp)
    trial.set_user_attr("prune_reason", "over budget: " + ", ".join(
        f"{name} by {int(v)}" for name, v in over.items()))
    ctx.study.tell(trial, state=TrialState.PRUNED)
    return True


def _prune_out_of_focus(ctx: StudyContext, trial: optuna.Trial, fp: Footprint) -> bool:
    """--focus (search/_focus.py): a configuration larger than the smallest feasible one found so
    far cannot become the pick; what the FocusedSampler still lets through is pruned untrained."""
    if not ctx.settings.focus:
        return False
    smallest = smallest_feasible(ctx.study, lambda t: holds_floor_and_budgets(ctx.settings, t))
    size = ctx.size_of(fp)
    if smallest is None or size <= smallest.values[1]:
        return False
    set_constraints(ctx, trial, None, fp)
    trial.set_constraint("focus", size - smallest.values[1])  # > 0: TPE counts it infeasible
    trial.set_user_attr("prune_reason", f"{FOCUS_REASON}: {ctx.settings.size_objective} "
                        f"{int(size):,} > {int(smallest.values[1]):,} of trial {smallest.number}, "
                        "the smallest feasible so far (--no-focus trains it)")
    ctx.study.tell(trial, state=TrialState.PRUNED)
    return True


def _reuse_duplicate(ctx: StudyContext, trial: optuna.Trial) -> bool:
    """Samplers re-propose configurations in discrete spaces; reuse a completed twin's results
    instead of training the same configuration with the same seeds again."""
    summary = trial.user_attrs["summary"]
    twin = next((t for t in ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.user_attrs.get("summary") == summary), None)
    if twin is None:
        return _reuse_stopped_twin(ctx, trial, summary)
    for key in ("val_accuracies", "worst_case_val_accuracy", "train_time_s", "median_seed", "node",
                "ray_node_id", "node_ip"):
        if key in twin.user_attrs:
            trial.set_user_attr(key, twin.user_attrs[key])
    trial.set_user_attr("duplicate_of", twin.number)
    set_constraints(ctx, trial, twin.values[0], Footprint(**twin.user_attrs["footprint"]))
    ctx.study.tell(trial, list(twin.values))
    return True
