"""Driver bookkeeping on a real Optuna SQLite storage (no training)."""
from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from search._errors import UsageError
from search._focus import MAX_DRAWS, MAX_RANDOM_DRAWS
from search._loop import _propose, _prune_out_of_focus, _prune_over_budget, _reuse_duplicate
from search._settings import SearchSettings
from search._study import open_study, requeue_interrupted, storage_lock, trial_points
from search._trainer import Recipe
from spaces import SearchSpace

SPACE = SearchSpace(blocks=(1, 1), kernel_size=(3,), filters=(2, 4), pool=(2,), head=("gap",),
                    dense_units=(8, 8), dense_optional=False, dropout=(0.0,))


def context(tmp_path, **overrides):
    settings = SearchSettings(out=str(tmp_path), study_name="unit", **overrides).resolved()
    return open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10)


def test_configurations_over_a_budget_are_pruned_untrained(tmp_path):
    ctx = context(tmp_path, max_params=50)
    trial, config, fp = _propose(ctx)
    assert fp.params > 50
    assert _prune_over_budget(ctx, trial, fp)
    frozen = ctx.study.trials[0]
    assert frozen.state == TrialState.PRUNED
    assert frozen.constraints == {"max_params": fp.params - 50}
    assert frozen.user_attrs["prune_reason"] == f"over budget: max_params by {fp.params - 50}"


def propose_filters(ctx, filters: int):
    ctx.study.enqueue_trial({"filters_0": filters})
    trial, _, fp = _propose(ctx)
    return trial, fp


def test_focus_prunes_untrained_what_is_larger_than_the_smallest_feasible(tmp_path):
    ctx = context(tmp_path, focus=True)
    big, big_fp = propose_filters(ctx, 4)
    assert not _prune_out_of_focus(ctx, big, big_fp)  # nothing feasible yet: train it
    ctx.study.tell(big, [0.97, big_fp.params])
    low, low_fp = propose_filters(ctx, 2)
    assert not _prune_out_of_focus(ctx, low, low_fp)  # smaller: may become the pick
    ctx.study.tell(low, [0.90, low_fp.params])  # below the floor: the cap stays at `big`
    mid, mid_fp = propose_filters(ctx, 3)
    assert not _prune_out_of_focus(ctx, mid, mid_fp)
    ctx.study.tell(mid, [0.96, mid_fp.params])  # feasible and smaller: the new cap
    again, again_fp = propose_filters(ctx, 4)
    assert _prune_out_of_focus(ctx, again, again_fp)
    frozen = ctx.study.trials[-1]
    assert frozen.state == TrialState.PRUNED
    assert frozen.constraints == {"focus": big_fp.params - mid_fp.params}  # TPE: infeasible
    assert frozen.user_attrs["prune_reason"] == (
        f"out of focus: params {big_fp.params:,} > {mid_fp.params:,} of trial 2, the smallest "
        "feasible so far (--no-focus trains it)")
    same, same_fp = propose_filters(ctx, 3)
    assert not _prune_out_of_focus(ctx, same, same_fp)  # equal size is not larger

    (tmp_path / "off").mkdir()
    off = context(tmp_path / "off")  # focus is off by default
    off.study.enqueue_trial({"filters_0": 2})
    small, _, small_fp = _propose(off)
    off.study.tell(small, [0.99, small_fp.params])
    large, large_fp = propose_filters(off, 4)
    assert not _prune_out_of_focus(off, large, large_fp)


def test_a_reproposed_configuration_reuses_its_twin(tmp_path):
    ctx = context(tmp_path)
    first, config, fp = _propose(ctx)
    first.set_user_attr("val_accuracies", [0.9, 0.8])
    ctx.study.tell(first, [0.8, fp.params])
    ctx.study.enqueue_trial(first.params)
    second, again, _ = _propose(ctx)
    assert again == config
    assert _reuse_duplicate(ctx, second)
    frozen = ctx.study.trials[1]
    assert frozen.values == [0.8, fp.params] and frozen.user_attrs["duplicate_of"] == 0
    assert frozen.constraints["accuracy_floor"] == pytest.approx(0.95 - 0.8)
    assert [p.number for p in trial_points(ctx)] == [0, 1]


def test_trials_left_running_are_failed_and_requeued(tmp_path):
    ctx = context(tmp_path)
    orphan, config, _ = _propose(ctx)  # never told: as if the driver was killed
    assert requeue_interrupted(ctx) == 1
    trials = ctx.study.trials
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["fail_reason"] == "the driver stopped before the trial finished"
    assert trials[1].state == TrialState.WAITING and trials[1].params == orphan.params
    retried, again, _ = _propose(ctx)
    assert again == config


def test_resume_with_another_recipe_is_refused(tmp_path):
    context(tmp_path)
    settings = SearchSettings(out=str(tmp_path), study_name="unit").resolved()
    with pytest.raises(UsageError, match=r"created with recipe = .*'epochs': 1.*choose a new"):
        open_study(settings, SPACE, Recipe(epochs=3), (28, 28, 1), 10)


def test_second_driver_on_one_sqlite_storage_is_refused(tmp_path):
    settings = SearchSettings(out=str(tmp_path)).resolved()
    with storage_lock(settings):
        with pytest.raises(UsageError, match="in use by another slimtune search"):
            with storage_lock(settings):
                pass
    with storage_lock(settings):  # released again
        pass


def test_study_is_multi_objective_with_named_metrics(tmp_path):
    ctx = context(tmp_path, size_objective="macs")
    assert ctx.study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                    optuna.study.StudyDirection.MINIMIZE]
    assert ctx.study.metric_names == ["worst_case_val_accuracy", "macs"]


def test_the_focused_sampler_draws_no_larger_than_the_smallest_feasible(tmp_path):
    """Real TPE on a real study: without focus it keeps proposing around the large accurate trials;
    with focus its model-based proposals are redrawn until they fit under the smallest feasible."""
    space = SearchSpace(blocks=(1, 1), kernel_size=(3,), filters=(1, 64), pool=(2,),
                        head=("gap",), dense_units=(8, 8), dense_optional=False, dropout=(0.0,))
    over = {}
    for focus in (True, False):
        folder = tmp_path / str(focus)
        folder.mkdir()
        settings = SearchSettings(out=str(folder), study_name="f", focus=focus).resolved()
        ctx = open_study(settings, space, Recipe(epochs=1), (28, 28, 1), 10)
        for filters in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64):  # TPE's start-up: fixed here
            ctx.study.enqueue_trial({"filters_0": filters})
            trial, _, fp = _propose(ctx)
            ctx.study.tell(trial, [min(0.99, 0.80 + 0.01 * filters), fp.params])  # >= 0.95 from 15
        cap = min(t.values[1] for t in ctx.study.trials if t.values[0] >= 0.95)
        proposed = []
        for _ in range(8):  # 10 configurations are smaller than the cap, 5 of them tried
            trial, _, fp = _propose(ctx)
            frozen = ctx.study._storage.get_trial(trial._trial_id)
            proposed.append((fp.params, frozen.user_attrs.get("focus_draws")))
            ctx.study.tell(trial, state=TrialState.PRUNED)
        over[focus] = sum(params > cap for params, _ in proposed)
        if focus:  # only new configurations smaller than the pick can improve it
            assert all(params < cap for params, _ in proposed), (cap, proposed)
            tried = [t.user_attrs["summary"] for t in ctx.study.trials]
            assert len(set(tried)) == len(tried), tried  # and never one tried before
            assert all(d is not None and 1 <= d <= MAX_DRAWS + MAX_RANDOM_DRAWS
                       for _, d in proposed), proposed
    assert over[True] == 0 and over[False] >= 1, over
