"""Every private Optuna API of search/study/_optuna_private.py against the installed Optuna, on a
real SQLite storage: an upgrade that changes one fails here, loudly, by name."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from slimtune.search.study import _optuna_private as private


def test_storage_trial_and_heartbeat_internals(tmp_path):
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'o.db'}",
        heartbeat_interval=20,
        grace_period=60,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(1),
    )
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    trial = study.ask({"x": optuna.distributions.IntDistribution(1, 3)})
    assert isinstance(private.trial_id(trial), int)
    private.record_heartbeat(study, trial)
    assert private.heartbeat_interval(study) == 20
    private.set_user_attr(study, trial, "k", 1)
    assert private.frozen(study, trial).user_attrs["k"] == 1
    assert private.trial_by_number(study, trial.number).number == trial.number
    failed = private.fail(study, private.frozen(study, trial))
    assert failed.state == TrialState.FAIL
    private.stale_trial_callback(study)(study, failed)  # the retry: queued again
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]


def test_samplers_read_trials_through_the_focused_view():
    """TPE must read the study through `_get_trials`, or FocusedView changes nothing."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for size in (10, 20, 30):
        study.add_trial(
            optuna.trial.create_trial(
                values=[0.9, size],
                params={"x": size},
                distributions={"x": optuna.distributions.IntDistribution(1, 100)},
            )
        )
    seen = []
    view = private.FocusedView(study, cap=15)
    original = study._get_trials

    def spy(*args, **kwargs):
        seen.append(True)
        return original(*args, **kwargs)

    study._get_trials = spy
    marked = view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=False)
    assert seen and [t.constraints.get("focus") for t in marked] == [None, 5, 15]
    assert study.trials[1].constraints == {}  # the stored trial is untouched
    sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True)
    seen.clear()
    sampler.sample_independent(view, study.ask(), "x", optuna.distributions.IntDistribution(1, 100))
    assert seen, "TPESampler no longer reads trials through Study._get_trials"
