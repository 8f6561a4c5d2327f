"""--strategy smallest (the default): search for the smallest configuration that holds the floor.

The study keeps both objectives (worst-case validation accuracy, size), so the Pareto front and
picks at other floors stay readable from it; only the sampler sees it differently. `SizeSampler`
shows its base sampler (TPE) the study as a single-objective one through `SizeView`: minimise the
size objective, subject to the constraints every trial carries (the accuracy floor with its
validation margin, each budget). TPE puts feasible trials before infeasible ones and sorts each by
size or by how far they miss, so its "good" group is exactly the smallest feasible trials (before
any is feasible: the trials closest to the floor), and it proposes configurations like them.
"""
from __future__ import annotations

from typing import Any, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search.study._optuna_private import SizeView


class SizeSampler(optuna.samplers.BaseSampler):
    """`base`, seeing the study through `SizeView`; trial bookkeeping sees the real study."""

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self.base = base

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(SizeView(study), trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.base.sample_relative(SizeView(study), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.base.sample_independent(SizeView(study), trial, param_name,
                                            param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
