"""Several drivers on one study (search/_drivers.py), on a real Optuna storage without training.
SQLite stands in for the shared RDB here (its advisory mutex is a no-op; the PostgreSQL one is
exercised by tests/integration/test_postgres.py)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from slimtune.search.study import _peers
from slimtune.search.study._peers import DRIVER_ATTR, GONE_AFTER_S, STUDY_ATTR_PREFIX, Peers

# The drivers record trial heartbeats themselves, outside Study.optimize.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


def shared_study(tmp_path) -> tuple[optuna.Study, str]:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=20, grace_period=60)
    return optuna.create_study(study_name="s", storage=storage, directions=["maximize"]), url


def test_drivers_together_never_ask_more_than_the_target(tmp_path):
    study, url = shared_study(tmp_path)
    a, b = Peers(study, url, exclusive=False), Peers(study, url, exclusive=False)
    first, second = a.ask(3), a.ask(3)
    third = b.ask(3)
    assert third is not None and b.ask(3) is None and a.ask(3) is None  # 3 running: enough
    assert [t.user_attrs[DRIVER_ATTR] for t in study.trials] == [a.id, a.id, b.id]
    study.tell(first, [0.5])
    study.tell(second, state=optuna.trial.TrialState.FAIL)  # a failure leaves room for one more
    assert b.ask(3) is not None and a.ask(3) is None


def test_a_live_drivers_trials_are_left_to_it(tmp_path):
    study, url = shared_study(tmp_path)
    a, b = Peers(study, url, exclusive=False), Peers(study, url, exclusive=False)
    trial = a.ask(5)
    a.beat()
    study.tell(trial, [0.5])
    frozen = study.trials[0]
    assert a.owner_gone(frozen)  # its own trial
    assert not b.owner_gone(frozen) and not b.may_delete_run(0)
    a.finish()
    assert b.owner_gone(frozen) and b.may_delete_run(0)


def test_a_driver_that_stopped_beating_counts_as_gone(tmp_path):
    study, url = shared_study(tmp_path)
    a, b = Peers(study, url, exclusive=False), Peers(study, url, exclusive=False)
    study.tell(a.ask(5), [0.5])
    a.beat()
    assert not b.owner_gone(study.trials[0])
    record = study.user_attrs[STUDY_ATTR_PREFIX + a.id]
    study.set_user_attr(
        STUDY_ATTR_PREFIX + a.id, record | {"seen": record["seen"] - GONE_AFTER_S - 1}
    )
    assert b.owner_gone(study.trials[0])


def test_an_exclusive_driver_owns_everything(tmp_path):
    study, url = shared_study(tmp_path)
    other = Peers(study, url, exclusive=False)
    study.tell(other.ask(5), [0.5])
    other.beat()
    alone = Peers(study, url, exclusive=True)
    assert alone.owner_gone(study.trials[0]) and not alone.others_running()


def test_a_trial_left_half_asked_is_failed_by_the_next_ask_once_it_is_old(tmp_path, monkeypatch):
    """A driver that stopped between Optuna's ask and recording itself (killed, or its database
    lost while the trial was created) leaves a RUNNING trial no driver owns: it must neither count
    towards --trials nor be waited for forever. A young one may still be another driver's ask."""
    study, url = shared_study(tmp_path)
    study.ask()  # the stopped driver's
    driver = Peers(study, url, exclusive=False)
    assert driver.ask(2) is not None and driver.ask(2) is None  # young: still counted
    monkeypatch.setattr(_peers, "GONE_AFTER_S", 0.0)
    assert driver.ask(2) is not None  # old: failed, room for one more
    orphan = study.trials[0]
    assert orphan.state == TrialState.FAIL
    assert orphan.user_attrs["fail_reason"] == "its driver stopped while asking it"
    assert not driver.others_running()
