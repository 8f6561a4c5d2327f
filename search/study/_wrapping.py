"""A sampler that wraps another and shows it the study through a view (the strategies'
samplers: `search/study/_smallest.py`, `search/study/_focus.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState


class WrappingSampler(optuna.samplers.BaseSampler):
    """`base`, asked to sample with `view(study)`; trial bookkeeping (before/after a trial) sees
    the real study."""

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self.base = base

    def view(self, study: optuna.Study) -> Any:
        """What `base` samples from; the study itself unless a subclass says otherwise."""
        return study

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(self.view(study), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(self.view(study), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.base.sample_independent(self.view(study), trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
