"""The planner decides what to try next from the trials so far (Keras Tuner's Oracle); the trial
loop (search/execution/_loop.py) only connects it to an executor, which runs the trainings.

A `Proposal` is either decided without training (cannot be built, over a budget, out of focus, a
duplicate whose results are reused: its outcome is already told to Optuna) or a training to run,
as a `TrainingRequest` (the recipe, the seeds, the racing threshold, the promotion). The trained
outcome comes back through
`tell_trained` / `tell_failed` / `tell_abandoned`. A new search strategy is a new planner (see
`SmallestPlanner`, the default, and `FocusPlanner`), chosen by `planner_class`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from slimtune.search._errors import UsageError
from slimtune.search._failpoints import fail_point
from slimtune.search._settings import SIZE_OBJECTIVES, SearchSettings, SizedSettings
from slimtune.search.study import _optuna_private as private
from slimtune.search.study._context import (
    StudyContext,
    budget_violations,
    footprint_of,
    holds_floor_and_budgets,
    record_outcome,
    record_proposal,
    set_constraints,
)
from slimtune.search.study._focus import FOCUS_REASON, FocusedSampler, smallest_feasible
from slimtune.search.study._open import base_sampler
from slimtune.search.study._peers import COUNTED_STATES, Peers
from slimtune.search.study._shrink import SHRINK_ATTR, pick_move
from slimtune.search.study._smallest import SizeSampler
from slimtune.search.training import (
    Promotion,
    SeedsOutcome,
    TrainingRequest,
    promotion_accuracy,
    required_accuracy,
)
from slimtune.spaces import (
    BuildFailed,
    CNNConfig,
    Footprint,
    HyperModelConfig,
    HyperModelSpace,
    SearchSpace,
    footprint,
)

# Why a proposal needs no training (its outcome is told when the planner proposes it).
UNBUILDABLE, OVER_BUDGET, OUT_OF_FOCUS, DUPLICATE = (
    "cannot be built",
    "over budget",
    "out of focus",
    "duplicate",
)
# A HyperModel's `build` raised for the proposal: the trial is FAIL, the study goes on.
BUILD_FAILED = "build failed"


@dataclass
class Proposal:
    """One asked trial: `decided` (why it needs no training) or the `request` to train."""

    trial: optuna.Trial
    config: CNNConfig | HyperModelConfig | None
    footprint: Footprint | None
    decided: str | None = None
    request: TrainingRequest | None = None


class Planner:
    """Proposes trials for `ctx.study` and tells Optuna how they ended. The default strategy:
    the sampler maps the whole accuracy/size front; configurations over a budget are pruned
    untrained; duplicates reuse their twin's results; trained trials race against
    `required_accuracy` (search/training/_stopping.py) when early stopping is on."""

    def __init__(self, ctx: StudyContext, peers: Peers) -> None:
        self.ctx = ctx
        self.peers = peers
        self._reserve: tuple[int, float] = (-1, 0.0)  # (complete trials, seconds): recomputed
        # only when a trial completes, as the loop asks every second

    @classmethod
    def sampler(
        cls,
        settings: SizedSettings,
        space: SearchSpace | HyperModelSpace,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> optuna.samplers.BaseSampler:
        """The sampler the study is opened with under this strategy."""
        return base_sampler(settings)

    # --- deciding -------------------------------------------------------------------------------
    def next(self) -> Proposal | None:
        """The next trial; None once the study holds --trials finished or running trials (this
        driver's and its peers')."""
        ctx = self.ctx
        trial = self.peers.ask(ctx.settings.study.trials)
        if trial is None:
            return None
        fail_point("trial.asked")
        try:
            config = ctx.space.suggest(trial)
        except BuildFailed as exc:
            self._fail_build(trial, exc)
            return Proposal(trial, None, None, BUILD_FAILED)
        try:
            fp = footprint_of(ctx, config)
        except UsageError as exc:  # a budget the footprint walk cannot measure: refused
            self.tell_failed(Proposal(trial, config, None), str(exc))
            raise
        except ValueError as exc:
            self._prune_unbuildable(trial, config, exc)
            return Proposal(trial, config, None, UNBUILDABLE)
        record_proposal(trial, config, fp)
        trial.set_user_attr("seeds", ctx.search_seeds)
        fail_point("trial.recorded")
        for decided, rule in self.untrained_rules():
            if rule(trial, fp):
                return Proposal(trial, config, fp, decided)
        return Proposal(trial, config, fp, request=self.request(trial, config, fp))

    def untrained_rules(self) -> list[tuple[str, Callable[[optuna.Trial, Footprint], bool]]]:
        """(name, rule) pairs tried in order; a rule that returns True has told the outcome."""
        return [(OVER_BUDGET, self._prune_over_budget), (DUPLICATE, self._reuse_duplicate)]

    def request(
        self, trial: optuna.Trial, config: CNNConfig | HyperModelConfig, fp: Footprint
    ) -> TrainingRequest:
        """The training of this trial: the search's recipe and seeds, racing against the
        threshold `_required` when early stopping is on."""
        ctx = self.ctx
        request = TrainingRequest(config, ctx.recipe, tuple(ctx.search_seeds))
        if not ctx.settings.strategy.early_stopping:
            return request
        required = self._required(fp)
        trial.set_user_attr("required_accuracy", required)
        return replace(request, required_accuracy=required)

    def reserve_s(self) -> float:
        """Seconds to keep at the end of a --timeout for what follows the last new trial: the
        running trials finishing (a median trial's training) and confirming the smallest
        feasible trial so far (its own seconds per seed-epoch x the full recipe's epochs x the
        seeds of one worker's share). Estimated from this study's trials; 0 before any."""
        ctx = self.ctx
        s = ctx.settings
        complete = ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        key = len(complete)
        if self._reserve[0] != key:
            trained = sorted(t.user_attrs.get("train_time_s", 0.0) for t in complete)
            running = trained[(len(trained) - 1) // 2] if trained else 0.0
            candidate = smallest_feasible(ctx.study, lambda t: holds_floor_and_budgets(s, t))
            confirming = 0.0
            if candidate is not None:
                seed_epochs = max(1, candidate.user_attrs.get("epochs_run", 1))
                per_seed_epoch = candidate.user_attrs.get("train_time_s", 0.0) / seed_epochs
                share = math.ceil(len(ctx.confirm_seeds) / s.workers)
                confirming = per_seed_epoch * s.training.full_recipe.epochs * share
            self._reserve = (key, running + confirming)
        return self._reserve[1]

    # --- telling --------------------------------------------------------------------------------
    def tell_trained(self, proposal: Proposal, outcome: SeedsOutcome) -> None:
        """Record a finished training: COMPLETE, or PRUNED when it stopped early (racing: it can
        be neither feasible nor improve the front)."""
        trial, ctx, fp = proposal.trial, self.ctx, proposal.footprint
        assert fp is not None  # a proposal sent to train was measured (`next`)
        record_outcome(trial, outcome)
        set_constraints(ctx, trial, outcome.worst_case_val_accuracy, fp)
        if outcome.stopped_reason:
            trial.set_user_attr("prune_reason", f"stopped early: {outcome.stopped_reason}")
            ctx.study.tell(trial, state=TrialState.PRUNED)
        else:
            ctx.study.tell(trial, [outcome.worst_case_val_accuracy, ctx.size_of(fp)])

    def tell_failed(self, proposal: Proposal, reason: str) -> None:
        proposal.trial.set_user_attr("fail_reason", reason[:500])
        self.ctx.study.tell(proposal.trial, state=TrialState.FAIL)

    def tell_abandoned(self, proposal: Proposal, reason: str, interrupted: bool) -> None:
        """A training given up (cancelled): FAIL; an interrupted one is queued again (bounded by
        --max-retries) for the next invocation."""
        study = self.ctx.study
        trial = proposal.trial
        trial.set_user_attr("fail_reason", reason)
        if interrupted:
            trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        requeue = private.stale_trial_callback(study)
        if interrupted and requeue is not None:
            requeue(study, private.frozen(study, trial))

    # --- rules ----------------------------------------------------------------------------------
    def _fail_build(self, trial: optuna.Trial, exc: BuildFailed) -> None:
        """A HyperModel's `build` raised: FAIL with the reason (values drawn so far recorded)."""
        space = self.ctx.space
        assert isinstance(space, HyperModelSpace)  # only a HyperModel's build raises BuildFailed
        config = {"hypermodel": space.hypermodel, "values": exc.values}
        trial.set_user_attr("config", config)
        trial.set_user_attr("summary", HyperModelConfig.from_dict(config).summary())
        trial.set_user_attr("fail_reason", f"{BUILD_FAILED}: {exc}"[:500])
        self.ctx.study.tell(trial, state=TrialState.FAIL)

    def _prune_unbuildable(
        self, trial: optuna.Trial, config: CNNConfig | HyperModelConfig, exc: ValueError
    ) -> None:
        """'valid' padding shrank a feature map to nothing."""
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("summary", config.summary())
        trial.set_user_attr("prune_reason", f"{UNBUILDABLE}: {exc}")
        # Infeasible for the sampler: a plain pruned trial can land in TPE's "good" group, which
        # then proposes more that cannot be built.
        trial.set_constraint("buildable", 1.0)
        self.ctx.study.tell(trial, state=TrialState.PRUNED)

    def _prune_over_budget(self, trial: optuna.Trial, fp: Footprint) -> bool:
        """A configuration over a budget is known infeasible before training."""
        over = {k: v for k, v in budget_violations(self.ctx.settings, fp).items() if v > 0}
        if not over:
            return False
        set_constraints(self.ctx, trial, None, fp)
        trial.set_user_attr(
            "prune_reason",
            f"{OVER_BUDGET}: " + ", ".join(f"{name} by {int(v)}" for name, v in over.items()),
        )
        self.ctx.study.tell(trial, state=TrialState.PRUNED)
        return True

    def _reuse_duplicate(self, trial: optuna.Trial, fp: Footprint) -> bool:
        """Samplers re-propose configurations in discrete spaces; reuse a completed twin's results
        instead of training the same configuration with the same seeds again."""
        ctx = self.ctx
        summary = trial.user_attrs["summary"]
        twin = next(
            (
                t
                for t in ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get("summary") == summary
            ),
            None,
        )
        if twin is None:
            return self._reuse_stopped_twin(trial, fp, summary)
        for key in (
            "val_accuracies",
            "worst_case_val_accuracy",
            "train_time_s",
            "median_seed",
            "node",
            "ray_node_id",
            "node_ip",
            "epochs",
            "screen_val_accuracies",
        ):
            if key in twin.user_attrs:
                trial.set_user_attr(key, twin.user_attrs[key])
        trial.set_user_attr("duplicate_of", twin.number)
        set_constraints(ctx, trial, twin.values[0], Footprint(**twin.user_attrs["footprint"]))
        ctx.study.tell(trial, list(twin.values))
        return True

    def _reuse_stopped_twin(self, trial: optuna.Trial, fp: Footprint, summary: str) -> bool:
        """A twin stopped early below a threshold at most today's would stop again the same way."""
        ctx = self.ctx
        if not ctx.settings.strategy.early_stopping:
            return False
        required = self._required(fp)
        twin = next(
            (
                t
                for t in ctx.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
                if t.user_attrs.get("summary") == summary
                and str(t.user_attrs.get("prune_reason", "")).startswith("stopped early")
                and t.user_attrs.get("required_accuracy", 2.0) <= required
            ),
            None,
        )
        if twin is None:
            return False
        for key in (
            "seeds",
            "val_accuracies",
            "val_curves",
            "required_accuracy",
            "prune_reason",
            "epochs",
            "screen_val_accuracies",
        ):
            if key in twin.user_attrs:
                trial.set_user_attr(key, twin.user_attrs[key])
        trial.set_user_attr("duplicate_of", twin.number)
        trial.set_user_attr("epochs_run", 0)
        set_constraints(ctx, trial, min(twin.user_attrs["val_accuracies"]), fp)
        ctx.study.tell(trial, state=TrialState.PRUNED)
        return True

    def _required(self, fp: Footprint) -> float:
        completed = [
            (t.values[1], t.values[0])
            for t in self.ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ]
        return required_accuracy(
            self.ctx.settings.validation_floor, self.ctx.size_of(fp), completed
        )


class FocusPlanner(Planner):
    """--focus (search/study/_focus.py): once a trial is feasible, only a new configuration
    smaller than the smallest feasible one can improve the pick. The sampler is steered there;
    what it still proposes larger is pruned untrained."""

    @classmethod
    def sampler(
        cls,
        settings: SizedSettings,
        space: SearchSpace | HyperModelSpace,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> optuna.samplers.BaseSampler:
        # The strategy's own sampler (see SmallestFocusPlanner), focused.
        return FocusedSampler(
            super().sampler(settings, space, input_shape, num_classes),
            _describe_params(settings, space, input_shape, num_classes),
            lambda trial: holds_floor_and_budgets(settings, trial),
            seed=settings.strategy.seed,
        )

    def untrained_rules(self) -> list[tuple[str, Callable[[optuna.Trial, Footprint], bool]]]:
        rules = super().untrained_rules()
        return rules[:1] + [(OUT_OF_FOCUS, self._prune_out_of_focus)] + rules[1:]

    def _prune_out_of_focus(self, trial: optuna.Trial, fp: Footprint) -> bool:
        ctx = self.ctx
        smallest = smallest_feasible(ctx.study, lambda t: holds_floor_and_budgets(ctx.settings, t))
        size = ctx.size_of(fp)
        if smallest is None or size <= smallest.values[1]:
            return False
        set_constraints(ctx, trial, None, fp)
        trial.set_constraint("focus", size - smallest.values[1])  # > 0: TPE counts it infeasible
        trial.set_user_attr(
            "prune_reason",
            f"{FOCUS_REASON}: {ctx.settings.strategy.size_objective} "
            f"{int(size):,} > {int(smallest.values[1]):,} of trial "
            f"{smallest.number}, the smallest feasible so far (--no-focus trains "
            "it)",
        )
        ctx.study.tell(trial, state=TrialState.PRUNED)
        return True


class SmallestPlanner(Planner):
    """--strategy smallest (search/study/_smallest.py): the sampler minimises size under the
    accuracy floor. A trial races against the floor (with its validation margin) alone: whether
    a feasible trial is dominated on the front does not matter to this goal, and a trial stopped
    early is then exactly an infeasible one for the sampler.

    Two fidelities: every trial trains the search's epochs; a near miss (error at most
    PROMOTION_ERROR_RATIO times the allowed one) is trained again with the full recipe
    (--full-epochs), which small models need to hold the floor (benchmarks/fidelity.py)."""

    @classmethod
    def sampler(
        cls,
        settings: SizedSettings,
        space: SearchSpace | HyperModelSpace,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> optuna.samplers.BaseSampler:
        return SizeSampler(base_sampler(settings))

    def request(
        self, trial: optuna.Trial, config: CNNConfig | HyperModelConfig, fp: Footprint
    ) -> TrainingRequest:
        request = super().request(trial, config, fp)
        settings = self.ctx.settings
        if request.required_accuracy is not None and settings.promotes:
            least = promotion_accuracy(request.required_accuracy)
            trial.set_user_attr("promotion_accuracy", least)
            request = replace(request, promotion=Promotion(settings.training.full_recipe, least))
        return request

    def _required(self, fp: Footprint) -> float:
        return self.ctx.settings.validation_floor


class SmallestFocusPlanner(FocusPlanner, SmallestPlanner):
    """--strategy smallest --focus: the size view's sampler, focused below the smallest feasible
    trial (what is larger cannot become the pick: it is pruned untrained), racing against the
    validation floor; once a trial is feasible, every other trained trial is a shrink move of the
    smallest feasible configuration that has one left (search/study/_shrink.py)."""

    def next(self) -> Proposal | None:
        self._queue_shrink_move()
        return super().next()

    def _queue_shrink_move(self) -> None:
        """Enqueue a shrink move when it is its turn: after the first feasible trial, as many
        trained (or running) trials come from moves as from the sampler."""
        ctx, study = self.ctx, self.ctx.study
        if not ctx.settings.strategy.shrink or not isinstance(ctx.space, SearchSpace):
            return  # shrink moves know slimtune's own blocks only, not a HyperModel's space
        trials = study.get_trials(deepcopy=False)
        if (
            any(t.state == TrialState.WAITING for t in trials)
            or sum(t.state in COUNTED_STATES for t in trials) >= ctx.settings.study.trials
        ):
            return  # a queued trial goes first; and none may be left waiting at the end
        feasible = sorted(
            (
                t
                for t in trials
                if t.state == TrialState.COMPLETE and holds_floor_and_budgets(ctx.settings, t)
            ),
            key=lambda t: t.values[1],
        )
        if not feasible:
            return
        since = [
            t
            for t in trials
            if t.number > min(t.number for t in feasible)
            and (t.state == TrialState.RUNNING or "val_accuracies" in t.user_attrs)
        ]
        moves = sum(1 for t in since if SHRINK_ATTR in t.user_attrs)
        if moves > len(since) - moves:
            return  # the sampler's turn
        describe = _describe_params(ctx.settings, ctx.space, ctx.input_shape, ctx.num_classes)
        tried = {t.user_attrs["summary"] for t in trials if "summary" in t.user_attrs}
        rng = random.Random(
            f"{ctx.settings.strategy.seed}-{len(trials)}"
        )  # reproducible per study state
        for incumbent in feasible:
            move = pick_move(ctx.space, incumbent.params, incumbent.values[1], describe, tried, rng)
            if move is not None:
                study.enqueue_trial(move, user_attrs={SHRINK_ATTR: incumbent.number})
                return


def planner_class(settings: SearchSettings) -> type[Planner]:
    """The strategy `settings` ask for; --focus refines either."""
    if settings.strategy.strategy == "smallest":
        return SmallestFocusPlanner if settings.strategy.focus else SmallestPlanner
    return FocusPlanner if settings.strategy.focus else Planner


def frozen_trial(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """The trial as stored, for recording it after the planner told its outcome."""
    return private.frozen(study, trial)


def _describe_params(
    settings: SearchSettings,
    space: SearchSpace | HyperModelSpace,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> Callable[[dict[str, Any]], tuple[float, str] | None]:
    """(size objective, summary) of the configuration that sampled `params` describe (--focus)."""
    field_name = SIZE_OBJECTIVES[settings.strategy.size_objective]
    if not isinstance(space, SearchSpace):
        # A HyperModel point is known only by building it: too slow for the sampler's many
        # redraws. Unknown: the planner still prunes what comes out larger, untrained.
        return lambda params: None

    def describe(params: dict[str, Any]) -> tuple[float, str] | None:
        try:
            config = space.suggest(optuna.trial.FixedTrial(params))
        except ValueError:
            return None  # a parameter is left to independent sampling: cannot tell yet
        try:
            return getattr(
                footprint(config, input_shape, num_classes), field_name
            ), config.summary()
        except ValueError:
            return math.inf, config.summary()  # cannot be built: would only be pruned

    return describe
