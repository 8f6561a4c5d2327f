"""Riding out a database restart (search/study/_storage.py): which failures are retried, when the
search stops, and that a write whose COMMIT failed is never applied twice. The COMMIT faults are
injected into a real SQLite storage's driver; the real PostgreSQL restart is
tests/integration/test_postgres.py::test_postgres_restarted_mid_study_is_ridden_out."""

from __future__ import annotations

import socket
import sqlite3

import pytest
import sqlalchemy.exc
from optuna.study import StudyDirection
from optuna.trial import TrialState

from slimtune.search import StorageLost
from slimtune.search.study import _storage
from slimtune.search.study._storage import ResilientRDBStorage, RideOut
from support.cli import run_cli_in_process

URL = "postgresql://slimtune:secret@127.0.0.1:5432/optuna"


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch):
    monkeypatch.setattr(_storage, "_FIRST_WAIT_S", 0.01)
    monkeypatch.setattr(_storage, "_LONGEST_WAIT_S", 0.01)


def lost() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))


def failing(*errors: Exception):
    """A call that raises `errors` in turn, then returns "done"; `.calls` counts the attempts."""
    pending = list(errors)

    def call() -> str:
        call.calls += 1
        if pending:
            raise pending.pop(0)
        return "done"

    call.calls = 0
    return call


def test_a_lost_connection_is_retried_and_the_outage_noted_once_each_way():
    notes: list[str] = []
    call = failing(lost(), lost(), lost())
    assert RideOut(URL, notes.append).call(call) == "done" and call.calls == 4
    assert len(notes) == 2, notes
    assert notes[0].startswith("the study's storage postgresql://slimtune:***@127.0.0.1:5432/")
    assert "does not answer (connection refused)" in notes[0]
    assert "answers again" in notes[1]
    assert "secret" not in "".join(notes)


def test_a_connection_cut_by_a_past_restart_is_replaced_silently():
    notes: list[str] = []
    call = failing(lost())
    assert RideOut(URL, notes.append).call(call) == "done" and call.calls == 2
    assert notes == []


def test_past_the_limit_the_search_stops_naming_the_storage():
    ride_out = RideOut(URL, limit_s=0.05)
    with pytest.raises(
        StorageLost,
        match=r"^the study's storage postgresql://slimtune:\*\*\*@"
        r".* has not answered for 0.05 s \(connection refused\); run the same "
        r"command again",
    ):
        ride_out.call(failing(*[lost()] * 10_000))
    # Stopping: the cleanup's calls are not ridden out again.
    call = failing(lost())
    with pytest.raises(StorageLost):
        ride_out.call(call)
    assert call.calls == 1


def test_other_errors_are_not_retried():
    call = failing(ValueError("bad"), lost())
    with pytest.raises(ValueError):
        RideOut(URL).call(call)
    assert call.calls == 1


def test_at_start_a_storage_that_does_not_answer_is_reported_at_once():
    call = failing(lost())
    with pytest.raises(StorageLost, match="does not answer .* start it, then run the same"):
        RideOut(URL).call(call, patient=False)
    assert call.calls == 1


# --- COMMIT faults on a real storage ------------------------------------------------------------
@pytest.fixture
def storage(tmp_path):
    return ResilientRDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}", RideOut(URL))


def break_commit(storage: ResilientRDBStorage, applied: bool) -> None:
    """The next COMMIT fails as a cut connection does; `applied`: after the database stored it."""
    dialect = storage.engine.dialect
    real = dialect.do_commit

    def do_commit(dbapi_connection):
        dialect.do_commit = real
        if applied:
            real(dbapi_connection)
        raise sqlite3.OperationalError("server closed the connection unexpectedly")

    dialect.do_commit = do_commit


def new_trial(storage: ResilientRDBStorage) -> int:
    study_id = storage.create_new_study([StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE], "s")
    return storage.create_new_trial(study_id)


@pytest.mark.parametrize("applied", [True, False])
def test_a_tell_whose_commit_failed_is_stored_once(storage, applied):
    trial_id = new_trial(storage)
    break_commit(storage, applied)
    assert storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.9, 120.0])
    trial = storage.get_trial(trial_id)
    assert trial.state == TrialState.COMPLETE and trial.values == [0.9, 120.0]


@pytest.mark.parametrize("applied", [True, False])
def test_an_attribute_whose_commit_failed_is_written_again(storage, applied):
    trial_id = new_trial(storage)
    break_commit(storage, applied)
    storage.set_trial_user_attr(trial_id, "config", {"blocks": 2})
    assert storage.get_trial(trial_id).user_attrs == {"config": {"blocks": 2}}


def test_a_trial_whose_creation_is_unknown_stops_the_search(storage):
    study_id = storage.create_new_study([StudyDirection.MAXIMIZE], "s")
    break_commit(storage, applied=True)
    with pytest.raises(
        StorageLost,
        match="while a trial was being created, so whether it was "
        "cannot be known; run the same command again",
    ):
        storage.create_new_trial(study_id)
    assert len(storage.get_all_trials(study_id)) == 1  # created once, never a second time


def test_a_postgres_storage_that_does_not_answer_at_start_is_one_line_and_exit_5(
    tmp_path, mnist_dir
):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, stderr = run_cli_in_process(
        "search",
        "--data-dir",
        mnist_dir,
        "--out",
        tmp_path / "out",
        "--trials",
        1,
        "--train-subset",
        200,
        "--storage",
        f"postgresql://slimtune@127.0.0.1:{port}/optuna",
    )
    assert code == 5, stderr
    assert stderr.startswith(
        f"slimtune: error: the study's storage postgresql://slimtune@"
        f"127.0.0.1:{port}/optuna does not answer ("
    )
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
