"""The planner on a real Optuna SQLite storage (no training): what it prunes untrained, what it
reuses, what the focus sampler proposes."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from slimtune.search._settings import SearchSettings
from slimtune.search.study._context import footprint_of, record_proposal, trial_points
from slimtune.search.study._focus import MAX_DRAWS, MAX_RANDOM_DRAWS
from slimtune.search.study._open import open_study
from slimtune.search.study._optuna_private import frozen as stored
from slimtune.search.study._peers import Peers
from slimtune.search.study._planner import (
    DUPLICATE,
    OUT_OF_FOCUS,
    OVER_BUDGET,
    FocusPlanner,
    Planner,
    SmallestPlanner,
    planner_class,
)
from slimtune.spaces import Recipe, SearchSpace

SPACE = SearchSpace(
    blocks=(1, 1),
    kernel_size=(3,),
    filters=(2, 4),
    pool=(2,),
    head=("gap",),
    dense_units=(8, 8),
    dense_optional=False,
    dropout=(0.0,),
)


def planner(tmp_path, space=SPACE, **overrides) -> Planner:
    """The front strategy without a validation margin unless `overrides` say otherwise, so the
    thresholds below read as the floor itself."""
    overrides = {"strategy": "front", "confidence": 0.5, "initial_design": "random"} | overrides
    settings = (
        SearchSettings.of(out=str(tmp_path), study_name="unit", **overrides)
        .resolved()
        .sized_for(60_000)
    )
    cls = planner_class(settings)
    ctx = open_study(
        settings,
        space,
        Recipe(epochs=1),
        (28, 28, 1),
        10,
        cls.sampler(settings, space, (28, 28, 1), 10),
    )
    ctx.peers = Peers(ctx.study, settings.study.storage, exclusive=True)
    return cls(ctx, ctx.peers)


def test_configurations_over_a_budget_are_pruned_untrained(tmp_path):
    plan = planner(tmp_path, max_params=50)
    proposal = plan.next()
    fp = proposal.footprint
    assert fp.params > 50 and proposal.decided == OVER_BUDGET
    frozen = plan.ctx.study.trials[0]
    assert frozen.state == TrialState.PRUNED
    assert frozen.constraints == {"max_params": fp.params - 50}
    assert frozen.user_attrs["prune_reason"] == f"over budget: max_params by {fp.params - 50}"


def propose_filters(plan: Planner, filters: int):
    plan.ctx.study.enqueue_trial({"filters_0": filters})
    return plan.next()


def test_focus_prunes_untrained_what_is_larger_than_the_smallest_feasible(tmp_path):
    plan = planner(tmp_path, focus=True)
    assert isinstance(plan, FocusPlanner)
    study = plan.ctx.study
    big = propose_filters(plan, 4)
    assert big.decided is None  # nothing feasible yet: train it
    study.tell(big.trial, [0.97, big.footprint.params])
    low = propose_filters(plan, 2)
    assert low.decided is None  # smaller: may become the pick
    study.tell(low.trial, [0.90, low.footprint.params])  # below the floor: the cap stays at big
    mid = propose_filters(plan, 3)
    assert mid.decided is None
    study.tell(mid.trial, [0.96, mid.footprint.params])  # feasible and smaller: the new cap
    again = propose_filters(plan, 4)
    assert again.decided == OUT_OF_FOCUS
    frozen = study.trials[-1]
    assert frozen.state == TrialState.PRUNED
    assert frozen.constraints == {"focus": big.footprint.params - mid.footprint.params}
    assert frozen.user_attrs["prune_reason"] == (
        f"out of focus: params {big.footprint.params:,} > {mid.footprint.params:,} of trial 2, "
        "the smallest feasible so far (--no-focus trains it)"
    )
    same = propose_filters(plan, 3)
    assert same.decided == DUPLICATE  # equal size is not larger; its twin's results are reused

    (tmp_path / "off").mkdir()
    off = planner(tmp_path / "off")  # focus is off by default
    assert type(off) is Planner
    small = propose_filters(off, 2)
    off.ctx.study.tell(small.trial, [0.99, small.footprint.params])
    assert propose_filters(off, 4).decided is None


def test_a_reproposed_configuration_reuses_its_twin(tmp_path):
    plan = planner(tmp_path)
    study = plan.ctx.study
    first = plan.next()
    assert first.decided is None and first.request.required_accuracy == 0.95
    first.trial.set_user_attr("val_accuracies", [0.9, 0.8])
    study.tell(first.trial, [0.8, first.footprint.params])
    study.enqueue_trial(first.trial.params)
    second = plan.next()
    assert second.config == first.config and second.decided == DUPLICATE
    frozen = study.trials[1]
    assert frozen.values == [0.8, first.footprint.params]
    assert frozen.user_attrs["duplicate_of"] == 0
    assert frozen.constraints["accuracy_floor"] == pytest.approx(0.95 - 0.8)
    assert [p.number for p in trial_points(plan.ctx)] == [0, 1]


def test_a_trained_outcome_is_told_complete_or_pruned(tmp_path):
    from slimtune.search.training import SeedsOutcome

    plan = planner(tmp_path)
    done = propose_filters(plan, 2)
    plan.tell_trained(
        done,
        SeedsOutcome(
            seeds=[0, 1],
            val_accuracies=[0.97, 0.96],
            test_accuracies=None,
            train_time_s=1.0,
            median_seed=0,
        ),
    )
    stopped = propose_filters(plan, 3)
    plan.tell_trained(
        stopped,
        SeedsOutcome(
            seeds=[0],
            val_accuracies=[0.3],
            test_accuracies=None,
            train_time_s=1.0,
            median_seed=0,
            stopped_reason="cannot reach 0.95",
        ),
    )
    failed = propose_filters(plan, 4)
    plan.tell_failed(failed, "ValueError: broken")
    states = [t.state for t in plan.ctx.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    assert (
        stored(plan.ctx.study, stopped.trial).user_attrs["prune_reason"]
        == "stopped early: cannot reach 0.95"
    )
    assert stored(plan.ctx.study, failed.trial).user_attrs["fail_reason"] == "ValueError: broken"


def test_the_timeout_reserve_covers_the_running_trials_and_one_confirmation(tmp_path):
    """--timeout bounds the invocation: the planner keeps time for a median trial to finish and
    for confirming the smallest feasible trial (seconds per seed-epoch x full epochs x the seeds
    of one worker's share)."""
    from slimtune.search.training import SeedsOutcome

    plan = planner(tmp_path, seeds=2, workers=2, epochs=5, full_epochs=20)
    assert plan.reserve_s() == 0.0  # nothing trained: nothing to estimate

    def trained(filters, accuracy, seconds):
        proposal = propose_filters(plan, filters)
        outcome = SeedsOutcome(
            seeds=[0, 1],
            val_accuracies=[accuracy, accuracy],
            test_accuracies=None,
            train_time_s=seconds,
            median_seed=0,
            epochs_run=10,  # 2 seeds x 5 epochs
            epochs=5,
        )
        plan.tell_trained(proposal, outcome)

    trained(4, 0.5, 30.0)  # infeasible: only a running trial's time
    assert plan.reserve_s() == 30.0
    trained(2, 0.99, 10.0)  # feasible, 1 s per seed-epoch
    # the median of (10, 30) is 10; confirming: 1 s x 20 epochs x ceil(2 fresh seeds / 2 workers)
    assert plan.ctx.confirm_seeds and len(plan.ctx.confirm_seeds) == 2
    assert plan.reserve_s() == 10.0 + 1.0 * 20 * 1


def test_the_planner_stops_proposing_at_the_trial_target(tmp_path):
    plan = planner(tmp_path, trials=2)
    first, second = plan.next(), plan.next()
    assert first is not None and second is not None and plan.next() is None


def test_the_focused_sampler_draws_no_larger_than_the_smallest_feasible(tmp_path):
    """Real TPE on a real study: without focus it keeps proposing around the large accurate trials;
    with focus its model-based proposals are redrawn until they fit under the smallest feasible."""
    space = SearchSpace(
        blocks=(1, 1),
        kernel_size=(3,),
        filters=(1, 64),
        pool=(2,),
        head=("gap",),
        dense_units=(8, 8),
        dense_optional=False,
        dropout=(0.0,),
    )
    over = {}
    for focus in (True, False):
        folder = tmp_path / str(focus)
        folder.mkdir()
        plan = planner(folder, space, focus=focus)
        study = plan.ctx.study
        for filters in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64):  # TPE's start-up: fixed here,
            study.enqueue_trial({"filters_0": filters})  # told as trained, whatever focus says
            trial = study.ask()
            fp = footprint_of(plan.ctx, space.suggest(trial))
            record_proposal(trial, space.suggest(trial), fp)
            study.tell(trial, [min(0.99, 0.80 + 0.01 * filters), fp.params])  # >= 0.95 from 15
        cap = min(t.values[1] for t in study.trials if t.values[0] >= 0.95)
        proposed = []
        for _ in range(8):  # 10 configurations are smaller than the cap, 5 of them tried
            proposal = plan.next()
            frozen = stored(study, proposal.trial)
            proposed.append((proposal.footprint.params, frozen.user_attrs.get("focus_draws")))
            if proposal.decided is None:
                study.tell(proposal.trial, state=TrialState.PRUNED)
        over[focus] = sum(params > cap for params, _ in proposed)
        if focus:  # only new configurations smaller than the pick can improve it
            assert all(params < cap for params, _ in proposed), (cap, proposed)
            tried = [t.user_attrs["summary"] for t in study.trials]
            assert len(set(tried)) == len(tried), tried  # and never one tried before
            assert all(
                d is not None and 1 <= d <= MAX_DRAWS + MAX_RANDOM_DRAWS for _, d in proposed
            ), proposed
    assert over[True] == 0 and over[False] >= 1, over


def test_the_default_strategy_races_against_the_floor_plus_its_margin(tmp_path):
    plan = planner(tmp_path, strategy="smallest", confidence=0.95, focus=False)
    assert type(plan) is SmallestPlanner
    study = plan.ctx.study
    # 1.645 * sqrt(0.95 * 0.05 / 5000) = 0.00507 above the floor, whatever the front holds
    big = propose_filters(plan, 4)
    assert big.request.required_accuracy == pytest.approx(0.95507, abs=1e-5)
    study.tell(big.trial, [0.99, big.footprint.params])
    bigger = propose_filters(plan, 4)  # dominated by the first, still only the floor to reach
    assert bigger.decided == DUPLICATE
    small = propose_filters(plan, 2)
    assert small.request.required_accuracy == pytest.approx(0.95507, abs=1e-5)


def test_the_size_view_shows_tpe_the_smallest_feasible_trials_as_good(tmp_path):
    """What TPE's split into good and bad trials sees through SizeView: single objective, the
    size; infeasible trials (below the floor) last."""
    from optuna.samplers._tpe.sampler import _split_trials

    from slimtune.search.study._optuna_private import SizeView

    plan = planner(tmp_path, strategy="smallest", confidence=0.5, focus=False)
    study = plan.ctx.study
    outcomes = {2: 0.90, 3: 0.97, 4: 0.99}  # filters -> worst-case validation accuracy
    for filters, accuracy in outcomes.items():
        proposal = propose_filters(plan, filters)
        proposal.trial.set_constraint("accuracy_floor", 0.95 - accuracy)
        study.tell(proposal.trial, [accuracy, proposal.footprint.params])
    view = SizeView(study)
    assert not view._is_multi_objective() and len(view.directions) == 1
    trials = view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.values for t in trials] == [[t.values[1]] for t in study.trials]
    below, above = _split_trials(view, trials, 1)
    assert [t.params["filters_0"] for t in below] == [3]  # the smallest feasible, not filters 2
    assert study.trials[0].values[0] == 0.90  # the study's own trials are untouched


def test_focus_composes_with_the_smallest_strategy(tmp_path):
    from slimtune.search.study._focus import FocusedSampler
    from slimtune.search.study._planner import SmallestFocusPlanner
    from slimtune.search.study._smallest import SizeSampler

    plan = planner(tmp_path, strategy="smallest", focus=True, confidence=0.5)
    assert type(plan) is SmallestFocusPlanner
    sampler = plan.ctx.study.sampler
    assert isinstance(sampler, FocusedSampler) and isinstance(sampler.base, SizeSampler)
    study = plan.ctx.study
    mid = propose_filters(plan, 3)
    assert mid.request.required_accuracy == 0.95
    study.tell(mid.trial, [0.96, mid.footprint.params])
    assert propose_filters(plan, 4).decided == OUT_OF_FOCUS
    assert propose_filters(plan, 2).decided is None


def test_the_smallest_strategy_promotes_near_misses_to_the_full_recipe(tmp_path):
    plan = planner(tmp_path, strategy="smallest", confidence=0.95, focus=False)
    promote = propose_filters(plan, 4).request.promotion
    assert (
        promote.recipe.epochs == 4 * plan.ctx.settings.training.epochs == 20
    )  # the default full recipe
    # 1.5 times the error the floor plus its margin allows: 1 - 1.5 * (1 - 0.95507)
    assert promote.near_miss_accuracy == pytest.approx(0.93261, abs=1e-5)


@pytest.mark.parametrize(
    "overrides",
    [
        {"strategy": "smallest", "full_epochs": 5},
        {"strategy": "smallest", "early_stopping": False},
        {"strategy": "front"},
    ],
)
def test_no_promotion_without_a_longer_full_recipe_racing_or_the_smallest_strategy(
    tmp_path, overrides
):
    plan = planner(tmp_path, focus=False, **overrides)
    assert propose_filters(plan, 4).request.promotion is None


def test_after_a_feasible_trial_every_other_trained_trial_is_a_shrink_move(tmp_path):
    from slimtune.search.study._shrink import SHRINK_ATTR

    plan = planner(tmp_path, strategy="smallest", focus=True)
    study = plan.ctx.study
    first = propose_filters(plan, 4)
    assert SHRINK_ATTR not in first.trial.user_attrs  # nothing feasible yet: the sampler's
    study.tell(first.trial, [0.99, first.footprint.params])  # feasible at floor 0.95
    move = plan.next()
    assert move.trial.user_attrs[SHRINK_ATTR] == first.trial.number and move.decided is None
    assert move.config.blocks[0].filters == 2  # 4 x 0.7 rounded down, at the space's low end
    assert move.footprint.params < first.footprint.params
    # The move is running: the next trial is the sampler's, and nothing is left waiting.
    after = plan.next()
    assert SHRINK_ATTR not in after.trial.user_attrs
    assert not study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def test_no_shrink_move_is_queued_once_the_study_holds_its_trials(tmp_path):
    plan = planner(tmp_path, strategy="smallest", focus=True, trials=1)
    study = plan.ctx.study
    first = propose_filters(plan, 4)
    study.tell(first.trial, [0.99, first.footprint.params])
    assert plan.next() is None
    assert not study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def test_a_byte_never_predicted_is_not_known_to_fit():
    """A trial recorded before the microcontroller's bytes were predicted (-1) must not pass a
    flash or RAM budget on a resume."""
    from slimtune.search.study._context import budget_violations
    from slimtune.spaces import Footprint

    settings = SearchSettings.of(max_flash_bytes=10_000, max_params=500)
    old = Footprint(100, 400, 100, 400, 100, 1_000)  # tflite_file_bytes, tflm_arena_bytes: -1
    assert budget_violations(settings, old) == {"max_params": -400.0, "max_flash_bytes": 10_000.0}
