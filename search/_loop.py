"""The trial loop: ask Optuna, prune what breaks a budget, train the rest on Ray, tell Optuna,
log each trial once to MLflow."""
from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import TrialState

from search._executor import RayExecutor, TrialError
from search._progress import Progress
from search._study import (StudyContext, budget_violations, footprint_of, record_outcome,
                           record_proposal, set_constraints)
from search._trainer import SeedsOutcome
from spaces import CNNConfig, Footprint
from trackers import MlflowTracker


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """Flat MLflow params of a configuration."""
    params: dict[str, Any] = {"n_blocks": len(config["blocks"])}
    for i, block in enumerate(config["blocks"]):
        params |= {f"{key}_{i}": value for key, value in block.items()}
    return params | {k: config[k] for k in ("head", "dense_units", "dropout")}


def log_trial(ctx: StudyContext, tracker: MlflowTracker, logged: set[int],
              trial: optuna.trial.FrozenTrial, model_keras: bytes | None = None) -> None:
    """One child run per trial number, ever: a trial already logged is skipped."""
    if trial.number in logged:
        return
    attrs = trial.user_attrs
    metrics = dict(attrs.get("footprint", {}))
    for seed, acc in zip(attrs.get("seeds", []), attrs.get("val_accuracies", [])):
        metrics[f"val_accuracy_seed_{seed}"] = acc
    if trial.state == TrialState.COMPLETE:
        metrics |= {"worst_case_val_accuracy": trial.values[0],
                    "train_time_s": attrs.get("train_time_s", 0.0)}
    feasible = trial.state == TrialState.COMPLETE and all(
        v <= 0 for v in trial.constraints.values())
    status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "FINISHED"}.get(trial.state,
                                                                                  "FAILED")
    tags = {"study": ctx.settings.study_name, "state": trial.state.name,
            "feasible": str(feasible).lower(), "summary": attrs.get("summary", ""),
            "node": attrs.get("node", ""), "reason": attrs.get("fail_reason",
                                                              attrs.get("prune_reason", ""))}
    tracker.log_trial(trial.number, f"trial-{trial.number}", config_params(attrs["config"]),
                      metrics, tags, status, model_keras)
    logged.add(trial.number)


def run_trials(ctx: StudyContext, executor: RayExecutor, tracker: MlflowTracker,
               data_refs: tuple[Any, Any], progress: Progress) -> None:
    """Run trials until the study holds `settings.trials` finished (complete or pruned) trials."""
    settings, study = ctx.settings, ctx.study
    logged = tracker.logged_trial_numbers(settings.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                          TrialState.FAIL)):
        log_trial(ctx, tracker, logged, trial)  # back-fill records a dead driver never wrote
    finished = sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    pending: dict[Any, tuple[optuna.Trial, CNNConfig, Footprint]] = {}
    failures = 0
    progress.start(settings.trials, finished)
    last_beat = time.monotonic()
    while True:
        while len(pending) < settings.workers and finished + len(pending) < settings.trials:
            trial, config, fp = _propose(ctx)
            if _prune_over_budget(ctx, trial, fp) or _reuse_duplicate(ctx, trial):
                finished += 1
                frozen = study._storage.get_trial(trial._trial_id)
                log_trial(ctx, tracker, logged, frozen)
                progress.trial_done(frozen, ctx)
                continue
            ref = executor.submit(config.to_dict(), data_refs[0], data_refs[1], ctx.recipe,
                                  ctx.search_seeds)
            pending[ref] = (trial, config, fp)
        if not pending:
            break
        for ref in executor.wait(list(pending), timeout_s=1.0):
            trial, config, fp = pending.pop(ref)
            try:
                outcome: SeedsOutcome = executor.result(ref)
            except TrialError as exc:
                failures += 1
                trial.set_user_attr("fail_reason", str(exc)[:500])
                study.tell(trial, state=TrialState.FAIL)
                model = None
            else:
                finished += 1
                record_outcome(trial, outcome)
                set_constraints(ctx, trial, outcome.worst_case_val_accuracy, fp)
                study.tell(trial, [outcome.worst_case_val_accuracy, ctx.size_of(fp)])
                model = outcome.model_keras
            frozen = study._storage.get_trial(trial._trial_id)
            log_trial(ctx, tracker, logged, frozen, model)
            progress.trial_done(frozen, ctx)
        if time.monotonic() - last_beat > ctx.study._storage.get_heartbeat_interval() / 2:
            for trial, _, _ in pending.values():
                study._storage.record_heartbeat(trial._trial_id)
            last_beat = time.monotonic()
        if failures > max(3, settings.trials) and finished < settings.trials:
            ctx.messages.append(f"stopped early: {failures} trials failed in this run "
                                "(reasons in MLflow and in the Optuna trials' fail_reason)")
            _drain(ctx, executor, tracker, logged, pending)
            break
    progress.stop()


def _drain(ctx: StudyContext, executor: RayExecutor, tracker: MlflowTracker, logged: set[int],
           pending: dict[Any, Any]) -> None:
    """Give up on the trials still running: mark them failed, logged once."""
    for ref, (trial, _, _) in list(pending.items()):
        executor.cancel(ref)
        trial.set_user_attr("fail_reason", "cancelled: too many failures")
        ctx.study.tell(trial, state=TrialState.FAIL)
        log_trial(ctx, tracker, logged, ctx.study._storage.get_trial(trial._trial_id))
    pending.clear()


def _propose(ctx: StudyContext) -> tuple[optuna.Trial, CNNConfig, Footprint]:
    trial = ctx.study.ask()
    config = ctx.space.suggest(trial)
    fp = footprint_of(ctx, config)
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


def _reuse_duplicate(ctx: StudyContext, trial: optuna.Trial) -> bool:
    """Samplers re-propose configurations in discrete spaces; reuse a completed twin's results
    instead of training the same configuration with the same seeds again."""
    summary = trial.user_attrs["summary"]
    twin = next((t for t in ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.user_attrs.get("summary") == summary), None)
    if twin is None:
        return False
    for key in ("val_accuracies", "worst_case_val_accuracy", "train_time_s", "median_seed", "node"):
        if key in twin.user_attrs:
            trial.set_user_attr(key, twin.user_attrs[key])
    trial.set_user_attr("duplicate_of", twin.number)
    set_constraints(ctx, trial, twin.values[0], Footprint(**twin.user_attrs["footprint"]))
    ctx.study.tell(trial, list(twin.values))
    return True
