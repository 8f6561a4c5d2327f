"""--focus: spend the budget below the smallest feasible model found so far.

Once a feasible trial exists, anything larger cannot become the pick. Three parts, cheap first:
1. `FocusedSampler` shows the base sampler the study through `FocusedView`: a completed trial
   larger than the smallest feasible one carries a `focus` constraint > 0, so TPE ranks it with
   the infeasible trials and models "good" as feasible and small.
2. It redraws a model-based proposal (up to MAX_DRAWS times) until the configuration it describes
   is strictly smaller than the smallest feasible one and not tried before (a configuration
   already tried adds nothing: its results are reused); then uniform random draws over the same
   parameters are tried (up to MAX_RANDOM_DRAWS).
3. What still comes out larger is pruned untrained by `FocusPlanner` (search/study/_planner.py).
Why each part exists, with the runs that showed it: BENCHMARKS.md, the focus runs of
benchmarks/search_efficiency.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from slimtune.search.study._optuna_private import FocusedView, set_user_attr
from slimtune.search.study._wrapping import WrappingSampler

MAX_DRAWS = 32  # a relative draw of TPE costs 10-30 ms with a few hundred trials
MAX_RANDOM_DRAWS = 1000  # a random draw costs well under 1 ms
FOCUS_REASON = "out of focus"  # how a prune_reason starts when the planner prunes under --focus
DRAWS_ATTR = "focus_draws"  # TPE draws made; MAX_DRAWS + k: the k-th random draw fitted

# params -> (size, configuration summary); None if they do not describe a whole configuration
Describe = Callable[[dict[str, Any]], tuple[float, str] | None]
Feasible = Callable[[FrozenTrial], bool]


def smallest_feasible(study: optuna.Study, feasible: Feasible) -> FrozenTrial | None:
    """The completed trial `feasible` accepts with the smallest size objective, or None."""
    return min(
        (t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if feasible(t)),
        key=lambda t: t.values[1],
        default=None,
    )


class FocusedSampler(WrappingSampler):
    """`base`, seeing the study through `FocusedView`, with relative proposals redrawn until they
    describe a configuration not tried yet and smaller than the smallest feasible trial so far."""

    def __init__(
        self,
        base: optuna.samplers.BaseSampler,
        describe: Describe,
        feasible: Feasible,
        seed: int | None = None,
    ) -> None:
        super().__init__(base)
        self.describe = describe
        self.feasible = feasible
        self.random = optuna.samplers.RandomSampler(seed=seed)

    def _view(self, study: optuna.Study) -> tuple[Any, float | None]:
        smallest = smallest_feasible(study, self.feasible)
        cap = None if smallest is None else smallest.values[1]
        return (study if cap is None else FocusedView(study, cap)), cap

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        view, cap = self._view(study)
        params = self.base.sample_relative(view, trial, search_space)
        if cap is None or not params:
            return params
        trials = study.get_trials(deepcopy=False)
        tried = {t.user_attrs["summary"] for t in trials if "summary" in t.user_attrs}
        draws = 1
        while not self._new_and_smaller(params, cap, tried):
            if draws < MAX_DRAWS:
                params = self.base.sample_relative(view, trial, search_space)
            elif draws < MAX_DRAWS + MAX_RANDOM_DRAWS:
                params = {
                    name: self.random.sample_independent(study, trial, name, distribution)
                    for name, distribution in search_space.items()
                }
            else:
                break  # still not smaller: the loop prunes it untrained if it is larger
            draws += 1
        # Recorded for benchmarks/search_efficiency.py: what focusing cost.
        set_user_attr(study, trial, DRAWS_ATTR, draws)
        return params

    def _new_and_smaller(self, params: dict[str, Any], cap: float, tried: set[str]) -> bool:
        described = self.describe(params)
        return described is None or (described[0] < cap and described[1] not in tried)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        view, _ = self._view(study)
        return self.base.sample_independent(view, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self.random.reseed_rng()
