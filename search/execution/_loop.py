"""The trial loop: connects the planner (what to try) to an executor (runs it) and records each
finished trial once. It decides nothing itself: budgets, focus, duplicates and the racing
threshold are the planner's (search/study/_planner.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState

from slimtune.search._failpoints import fail_point
from slimtune.search._progress import Progress
from slimtune.search.execution._interrupt import Interrupted, uninterruptible
from slimtune.search.execution._protocol import Executor, TrialError
from slimtune.search.study import (
    BUILD_FAILED,
    NoRecords,
    Planner,
    Proposal,
    TrialRecords,
    frozen_trial,
    heartbeat_interval,
    record_heartbeat,
)

WAIT_FOR_OTHERS_S = 2.0


@dataclass
class _Run:
    """This invocation's bookkeeping: trainings in flight and counts."""

    pending: dict[Any, Proposal] = field(default_factory=dict)
    finished: int = 0
    failures: int = 0
    timed_out: bool = False
    submitted: int = 0  # trainings this invocation submitted


def run_trials(
    planner: Planner,
    executor: Executor,
    records: TrialRecords | NoRecords,
    data_refs: tuple[Any, Any],
    progress: Progress,
) -> None:
    """Run trials until the study holds `settings.study.trials` finished (complete or pruned)
    trials.

    On Ctrl-C/SIGTERM the running trials are cancelled, marked failed (interrupted) with their
    runs KILLED, and queued again for the next invocation; then `Interrupted` propagates.
    """
    ctx, peers = planner.ctx, planner.peers
    settings, study = ctx.settings, ctx.study
    records.backfill(study)  # records a dead driver or an MLflow outage never wrote
    run = _Run(
        finished=sum(
            1
            for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        )
    )
    progress.start(settings.study.trials, run.finished, settings.workers)
    try:
        _loop(planner, executor, records, data_refs, progress, run)
    finally:
        progress.close()  # a bar must not stay live (cursor hidden) past a stop or a bug
    records.backfill(study)
    peers.beat(done=True)  # every trial of ours is recorded (or waits for MLflow)
    progress.stop()


def _loop(
    planner: Planner,
    executor: Executor,
    records: TrialRecords | NoRecords,
    data_refs: tuple[Any, Any],
    progress: Progress,
    run: _Run,
) -> None:
    """Submit, wait and record until the study holds enough trials, time is up or Ctrl-C."""
    ctx, peers = planner.ctx, planner.peers
    settings, study = ctx.settings, ctx.study
    last_beat = time.monotonic()
    deadline = None if settings.study.timeout is None else ctx.started + settings.study.timeout
    try:
        while True:
            _fill(planner, executor, records, data_refs, progress, run, deadline)
            if not run.pending:
                if not run.timed_out and peers.others_running():  # theirs may fail: room
                    peers.beat()
                    time.sleep(WAIT_FOR_OTHERS_S)
                    continue
                break
            for handle in executor.wait(list(run.pending), timeout_s=1.0):
                with uninterruptible():
                    _finish(planner, executor, records, progress, run, handle)
            if time.monotonic() - last_beat > heartbeat_interval(study) / 2:
                for proposal in run.pending.values():
                    record_heartbeat(study, proposal.trial)
                last_beat = time.monotonic()
            peers.beat()
            if not records.online:
                records.backfill(study)
            if (
                run.failures > max(3, settings.study.trials)
                and run.finished < settings.study.trials
            ):
                ctx.messages.append(
                    f"stopped early: {run.failures} trials failed in this run "
                    "(reasons in MLflow and in the Optuna trials' fail_reason)"
                )
                with uninterruptible():
                    _abandon(planner, executor, records, run, "cancelled: too many failures")
                break
    except Interrupted as exc:
        with uninterruptible():
            _abandon(planner, executor, records, run, f"interrupted by {exc}", interrupted=True)
        progress.note(
            f"stopped by {exc}: {len(study.trials)} trials in the study; run the same "
            "command again to resume"
        )
        raise
    if run.timed_out and run.finished < settings.study.trials:
        ctx.messages.append(
            f"--timeout {settings.study.timeout:g}s reached with {run.finished} of "
            f"{settings.study.trials} trials finished; run the same command again "
            "to continue"
        )


def _fill(
    planner: Planner,
    executor: Executor,
    records: TrialRecords | NoRecords,
    data_refs: tuple[Any, Any],
    progress: Progress,
    run: _Run,
    deadline: float | None,
) -> None:
    """Submit trainings until every worker is busy, the planner has nothing left, or time is up."""
    ctx = planner.ctx
    while len(run.pending) < ctx.settings.workers and not run.timed_out:
        # The timeout bounds the invocation: new trials stop early enough for the running ones
        # to finish and the smallest feasible trial to be confirmed (estimated by the planner).
        # Like Optuna's timeout, each invocation starts trials on every worker first.
        reserve = planner.reserve_s() if deadline is not None else 0.0
        first_batch = run.submitted < ctx.settings.workers
        if deadline is not None and not first_batch and time.monotonic() >= deadline - reserve:
            run.timed_out = True  # like Optuna's timeout: no new trial, running ones finish
            waiting = f"; waiting for the {len(run.pending)} running" if run.pending else ""
            kept = f" ({reserve:,.0f} s kept to finish and confirm, estimated)" if reserve else ""
            progress.note(
                f"--timeout {ctx.settings.study.timeout:g}s: no new trials{kept}{waiting}"
            )
            return
        with uninterruptible():
            proposal = planner.next()
            if proposal is None:  # finished + running trials (all drivers') suffice
                return
            if proposal.decided:  # told without training
                if proposal.decided == BUILD_FAILED:
                    run.failures += 1
                else:
                    run.finished += 1
                _record(planner, records, progress, proposal)
                if run.failures > max(3, ctx.settings.study.trials):
                    return  # the loop stops on too many failures
                continue
            assert proposal.request is not None  # a proposal not decided is one to train
            handle = executor.submit(proposal.request, data_refs[0], data_refs[1])
            run.pending[handle] = proposal
            run.submitted += 1
            progress.trial_started(proposal.trial.number)
            fail_point("trial.submitted")


def _finish(
    planner: Planner,
    executor: Executor,
    records: TrialRecords | NoRecords,
    progress: Progress,
    run: _Run,
    handle: Any,
) -> None:
    """Tell the planner how a training ended and record the trial."""
    proposal = run.pending.pop(handle)
    try:
        outcome = executor.result(handle)
    except TrialError as exc:
        planner.tell_failed(proposal, str(exc))
        run.failures += 1
        _record(planner, records, progress, proposal)
        return
    planner.tell_trained(proposal, outcome)
    fail_point("trial.told")
    run.finished += 1
    _record(planner, records, progress, proposal, outcome.model_keras)


def _record(
    planner: Planner,
    records: TrialRecords | NoRecords,
    progress: Progress,
    proposal: Proposal,
    model_keras: bytes | None = None,
) -> None:
    frozen = frozen_trial(planner.ctx.study, proposal.trial)
    records.log(frozen, model_keras)
    progress.trial_done(frozen, planner.ctx)


def _abandon(
    planner: Planner,
    executor: Executor,
    records: TrialRecords | NoRecords,
    run: _Run,
    reason: str,
    interrupted: bool = False,
) -> None:
    """Give up on the trainings still running: cancel them, tell the planner, record them once.

    On an interrupt nothing is cancelled: the executor's shutdown, which follows at once, stops
    them (Ray kills a job's tasks when its driver leaves), and a cancel that races a task's
    completion aborts the driver in Ray 2.60 (task_manager.cc "Tried to complete task that was
    not pending"; seen in CI when a second trial finished as Ctrl-C arrived)."""
    for handle, proposal in list(run.pending.items()):
        if not interrupted:
            executor.cancel(handle)
        planner.tell_abandoned(proposal, reason, interrupted)
        records.log(frozen_trial(planner.ctx.study, proposal.trial))
        del run.pending[handle]
