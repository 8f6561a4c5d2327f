"""Opening a study on a real Optuna SQLite storage: identity on resume, the single-writer lock,
orphans of a dead driver."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from slimtune.search._errors import UsageError
from slimtune.search._settings import SearchSettings
from slimtune.search.study._open import open_study, requeue_interrupted, storage_lock
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


def context(tmp_path, **overrides):
    overrides = {"initial_design": "random"} | overrides  # the tests below ask trials themselves
    settings = (
        SearchSettings.of(out=str(tmp_path), study_name="unit", **overrides)
        .resolved()
        .sized_for(60_000)
    )
    return open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10)


def test_trials_left_running_are_failed_and_requeued(tmp_path):
    ctx = context(tmp_path)
    orphan = ctx.study.ask()  # never told: as if the driver was killed
    config = SPACE.suggest(orphan)
    assert requeue_interrupted(ctx) == 1
    trials = ctx.study.trials
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["fail_reason"] == "the driver stopped before the trial finished"
    assert trials[1].state == TrialState.WAITING and trials[1].params == orphan.params
    assert SPACE.suggest(ctx.study.ask()) == config


def test_a_retry_does_not_inherit_the_stop_that_queued_it(tmp_path):
    """A requeued trial that then completes must not read as interrupted, with the stop's reason
    (benchmarks/soak.py found PRUNED retries whose reason was "the driver stopped ...")."""
    ctx = context(tmp_path)
    orphan = ctx.study.ask()
    SPACE.suggest(orphan)
    orphan.set_user_attr("summary", "c3x2-p2|gap")
    requeue_interrupted(ctx)
    retry = ctx.study.trials[1]
    assert retry.state == TrialState.WAITING and retry.params == orphan.params
    assert retry.user_attrs == {"summary": "c3x2-p2|gap"}
    assert retry.system_attrs["failed_trial"] == 0  # still Optuna's retry of trial 0
    assert ctx.study.trials[0].user_attrs["interrupted"] is True  # the stopped one keeps them


def test_resume_with_another_recipe_is_refused(tmp_path):
    context(tmp_path)
    settings = SearchSettings.of(out=str(tmp_path), study_name="unit").resolved().sized_for(60_000)
    with pytest.raises(UsageError, match=r"created with recipe = .*'epochs': 1.*choose a new"):
        open_study(settings, SPACE, Recipe(epochs=3), (28, 28, 1), 10)


def test_resume_on_other_data_is_refused_by_content_digest(tmp_path):
    settings = SearchSettings.of(out=str(tmp_path), study_name="unit").resolved().sized_for(60_000)
    data = {"training": "aaaa", "validation": "bbbb"}
    open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10, data=data)
    open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10, data=data)  # same data
    with pytest.raises(
        UsageError,
        match=r"^study 'unit' in sqlite:.* was created on other data "
        r"\(content digests validation bbbb -> cccc\); point "
        r"--dataset/--data-dir at the files it was created with",
    ):
        open_study(
            settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10, data=data | {"validation": "cccc"}
        )


def test_a_study_made_before_data_digests_adopts_them(tmp_path):
    ctx = context(tmp_path)  # no data: as a study made before digests were recorded
    settings = SearchSettings.of(out=str(tmp_path), study_name="unit").resolved().sized_for(60_000)
    data = {"training": "aaaa", "validation": "bbbb"}
    open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10, data=data)
    assert ctx.study.user_attrs["slimtune.identity"]["data"] == data
    with pytest.raises(UsageError, match="created on other data"):
        open_study(
            settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10, data=data | {"training": "dddd"}
        )


def test_second_driver_on_one_sqlite_storage_is_refused(tmp_path):
    settings = SearchSettings.of(out=str(tmp_path)).resolved().sized_for(60_000)
    with storage_lock(settings):
        with pytest.raises(UsageError, match="in use by another slimtune search"):
            with storage_lock(settings):
                pass
    with storage_lock(settings):  # released again
        pass


def test_study_is_multi_objective_with_named_metrics(tmp_path):
    ctx = context(tmp_path, size_objective="macs")
    assert ctx.study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    assert ctx.study.metric_names == ["worst_case_val_accuracy", "macs"]
