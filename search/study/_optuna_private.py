"""Every private Optuna API slimtune relies on, in one module, so an Optuna upgrade that changes
one fails here and in tests/search/test_optuna_private.py, not somewhere in the trial loop.

Why they are needed:
- heartbeats: the driver asks and tells trials itself (no `study.optimize`), so it records the
  trials' heartbeats and re-queues orphans through the storage, as `optimize` does internally;
- trial ids: storage calls take the trial id, which `Trial`/`FrozenTrial` keep private;
- the focus and size views: samplers read trials through `Study._get_trials` and ask
  `Study._is_multi_objective`, so a view of the study that shows the sampler other values or
  constraints must provide those methods.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


def storage_of(study: optuna.Study) -> Any:
    return study._storage


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    return trial._trial_id


def frozen(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> FrozenTrial:
    """The trial as stored now (user attributes and constraints included)."""
    return storage_of(study).get_trial(trial_id(trial))


def trial_by_number(study: optuna.Study, number: int) -> FrozenTrial:
    storage = storage_of(study)
    return storage.get_trial(
        storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    )


def set_user_attr(
    study: optuna.Study, trial: optuna.Trial | FrozenTrial, key: str, value: Any
) -> None:
    """Set a user attribute of any trial, also one this process holds only as a FrozenTrial."""
    storage_of(study).set_trial_user_attr(trial_id(trial), key, value)


def fail(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    """Mark a RUNNING trial FAIL without a `Trial` object (orphans of a dead driver)."""
    storage_of(study).set_trial_state_values(trial_id(trial), state=TrialState.FAIL)
    return frozen(study, trial)


def heartbeat_interval(study: optuna.Study) -> float:
    return storage_of(study).get_heartbeat_interval()


def record_heartbeat(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> None:
    storage_of(study).record_heartbeat(trial_id(trial))


def stale_trial_callback(study: optuna.Study) -> Callable[[optuna.Study, FrozenTrial], None] | None:
    """The storage's retry callback (RetryHeartbeatStaleTrialCallback): queues a failed trial's
    parameters again, at most `max_retry` times."""
    return storage_of(study).get_heartbeat_stale_trial_callback()


class StudyView:
    """`study` as a sampler sees it: every trial it reads passes through `_show`, which may return
    a changed copy (never the study's own trial). Reads only; everything else delegates."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Any = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        return [
            self._show(t)
            for t in self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        ]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return [self._show(t) for t in self._study.get_trials(deepcopy=deepcopy, states=states)]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def _show(self, trial: FrozenTrial) -> FrozenTrial:
        return trial


class FocusedView(StudyView):
    """`study` with each completed trial above `cap` (size objective, the second value) carrying
    a `focus` constraint > 0."""

    def __init__(self, study: optuna.Study, cap: float) -> None:
        super().__init__(study)
        self._cap = cap
        self._focused: dict[int, FrozenTrial] = {}

    def _show(self, trial: FrozenTrial) -> FrozenTrial:
        if trial.state != TrialState.COMPLETE or trial.values[1] <= self._cap:
            return trial
        if trial.number not in self._focused:
            focused = copy.deepcopy(trial)  # the study's own copy must stay as stored
            focused.set_constraint("focus", trial.values[1] - self._cap)
            self._focused[trial.number] = focused
        return self._focused[trial.number]


class SizeView(StudyView):
    """`study` as a single-objective sampler sees it: minimise the size objective (the second
    value) under the trials' constraints (the accuracy floor among them). Completed trials carry
    [size] as their only value; TPE then ranks feasible trials by size and infeasible ones by how
    far they miss, so its "good" group is the smallest feasible trials."""

    def __init__(self, study: optuna.Study) -> None:
        super().__init__(study)
        self._sized: dict[int, FrozenTrial] = {}

    @property
    def directions(self) -> list[optuna.study.StudyDirection]:
        return [optuna.study.StudyDirection.MINIMIZE]

    @property
    def direction(self) -> optuna.study.StudyDirection:
        return optuna.study.StudyDirection.MINIMIZE

    def _is_multi_objective(self) -> bool:
        return False

    def _show(self, trial: FrozenTrial) -> FrozenTrial:
        if trial.state != TrialState.COMPLETE or trial.values is None or len(trial.values) != 2:
            return trial
        if trial.number not in self._sized:
            sized = copy.copy(trial)  # the study's own copy must stay as stored
            sized.values = [trial.values[1]]
            self._sized[trial.number] = sized
        return self._sized[trial.number]
