"""Peers: several `slimtune search` drivers (processes running one search each) on one study
(PostgreSQL): a study-wide mutex, who asked which trial, and which drivers are still alive.

On SQLite `storage_lock` admits one driver, so this driver owns everything (`exclusive`). On a
shared RDB several drivers may run at once; then

- asking is serialised (a PostgreSQL advisory lock held while the finished + running trials are
  counted and the next trial is asked), so together they never run more than `--trials` trials
  and never the same trial twice (Optuna hands each asked trial to one driver);
- each trial records the driver that asked it (`driver` user attribute) and each driver records a
  heartbeat in the study (`slimtune.driver.<id>`), so a driver back-fills MLflow runs only for
  trials whose driver has finished or stopped beating for `GONE_AFTER_S` — never for a live one.

The advisory locks live on a connection of their own; a database restart ends that session, and
its locks with it. It is reconnected (search/study/_storage.py `RideOut`); a restart that falls
inside `mutex` lets one other driver ask at the same moment, so together they may run one trial
more than `--trials`, never the same trial twice.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from slimtune.search.study import _optuna_private as private
from slimtune.search.study._storage import RideOut, connection_lost

DRIVER_ATTR = "driver"
STUDY_ATTR_PREFIX = "slimtune.driver."
BEAT_INTERVAL_S = 10.0
GONE_AFTER_S = 60.0  # Optuna's grace period for a trial's heartbeat (search/study/_open.py)
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class Peers:
    """This driver's view of the other drivers of its study. `exclusive`: no other driver can write
    the study."""

    def __init__(
        self,
        study: optuna.Study,
        storage_url: str,
        exclusive: bool,
        ride_out: RideOut | None = None,
    ) -> None:
        """`ride_out`: how a database restart is ridden out (shared with the study's storage)."""
        self.study = study
        self.exclusive = exclusive
        self.id = uuid.uuid4().hex[:12]
        self._last_beat = 0.0
        self._ride_out = ride_out or RideOut(storage_url)
        self._conn = None
        self._engine: Any
        self._key: int
        self._engine, self._key = (
            (None, 0) if exclusive else _advisory_engine(storage_url, study.study_name)
        )
        if self._engine is not None:
            self._conn = _connect(self._engine, self._ride_out)

    # --- mutual exclusion ---------------------------------------------------------------------
    @contextmanager
    def mutex(self) -> Iterator[None]:
        """Held by one driver of the study at a time (a no-op when this driver is exclusive)."""
        if self._engine is None:
            yield
            return
        self._execute("SELECT pg_advisory_lock(:key)", key=self._key)
        try:
            yield
        finally:
            self._unlock()

    def ask(self, target: int) -> optuna.Trial | None:
        """A new trial owned by this driver, or None when the study already holds `target`
        finished or running trials (this driver's and every other's)."""
        with self.mutex():
            counted = self.study.get_trials(deepcopy=False, states=COUNTED_STATES)
            if not self.exclusive:  # an exclusive driver's start failed every RUNNING trial
                counted = self._fail_unowned(counted)
            if len(counted) >= target:
                return None
            trial = self.study.ask()
            trial.set_user_attr(DRIVER_ATTR, self.id)
            # A first heartbeat now: a driver killed before its next beat leaves a trial that
            # Optuna's fail_stale_trials can still recognise as orphaned.
            private.record_heartbeat(self.study, trial)
            return trial

    def _fail_unowned(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """`trials` less the RUNNING ones without a driver, which are failed: every driver records
        itself on the trial it asks before it lets go of the mutex, so such a trial was left by
        one that stopped inside `ask` (killed, or its database lost while creating the trial).
        It never started (no configuration): nothing to retry or record. Only once it is
        `GONE_AFTER_S` old: a restart inside another driver's `ask` ends that driver's lock
        session while it still goes on to record itself."""
        kept = []
        now = datetime.now()  # trials' start times are the asking driver's local clock
        for trial in trials:
            if (
                trial.state == TrialState.RUNNING
                and DRIVER_ATTR not in trial.user_attrs
                and trial.datetime_start is not None
                and (now - trial.datetime_start).total_seconds() > GONE_AFTER_S
            ):
                private.set_user_attr(
                    self.study, trial, "fail_reason", "its driver stopped while asking it"
                )
                private.fail(self.study, trial)
            else:
                kept.append(trial)
        return kept

    def others_running(self) -> bool:
        """Whether trials asked by other drivers are still running, or were just failed as
        orphans of a driver that stopped (never, when exclusive): either way the caller should
        look again, since a failed orphan leaves room (and its configuration queued) to ask."""
        if self.exclusive:
            return False
        before = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        optuna.storages.fail_stale_trials(self.study)  # orphans of a dead driver: re-queued
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return len(running) < len(before) or any(
            t.user_attrs.get(DRIVER_ATTR) != self.id for t in running
        )

    # --- liveness -----------------------------------------------------------------------------
    def beat(self, done: bool = False) -> None:
        """Record that this driver is alive (at most every BEAT_INTERVAL_S), or has finished."""
        if self.exclusive:
            return
        now = time.monotonic()
        if not done and now - self._last_beat < BEAT_INTERVAL_S:
            return
        self._last_beat = now
        self.study.set_user_attr(
            STUDY_ATTR_PREFIX + self.id,
            {
                "seen": self._server_time(),
                "done": done,
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )

    def finish(self) -> None:
        """This driver records no more trials; others may back-fill what it left unlogged."""
        try:
            self.beat(done=True)
        finally:
            self._drop()

    def owner_gone(self, trial: FrozenTrial) -> bool:
        """True when no live driver other than this one will record `trial`."""
        owner = trial.user_attrs.get(DRIVER_ATTR)
        if self.exclusive or owner is None or owner == self.id:
            return True
        record = self.study.user_attrs.get(STUDY_ATTR_PREFIX + owner)
        return (
            record is None
            or record.get("done", False)
            or self._server_time() - record.get("seen", 0.0) > GONE_AFTER_S
        )

    def may_delete_run(self, trial_number: int) -> bool:
        """Whether a half-written MLflow run of `trial_number` is abandoned (its driver is gone)."""
        return self.owner_gone(private.trial_by_number(self.study, trial_number))

    def _server_time(self) -> float:
        """The database's clock, so drivers on machines with skewed clocks agree on ages."""
        if self._engine is None:
            return time.time()
        return float(self._execute("SELECT extract(epoch from now())"))

    # --- the lock connection ------------------------------------------------------------------
    def _execute(self, sql: str, **params: Any) -> Any:
        """The scalar `sql` returns, on the lock connection, reconnected after a restart."""
        from sqlalchemy import text

        def attempt() -> Any:
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                return self._conn.execute(text(sql), params).scalar()
            except Exception:
                self._drop()
                raise

        return self._ride_out.call(attempt)

    def _unlock(self) -> None:
        from sqlalchemy import text

        if self._conn is None:
            return  # the session that held the lock ended, and the lock with it
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        except Exception as exc:
            self._drop()
            if not connection_lost(exc):
                raise

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except Exception as exc:  # a connection the restart cut may fail to close
                if not connection_lost(exc):
                    raise


@contextmanager
def creation_lock(storage_url: str, ride_out: RideOut | None = None) -> Iterator[None]:
    """Held while Optuna's tables and the study are created or opened (PostgreSQL): two drivers
    started together on an empty database would otherwise both create them, and one would fail.
    A database that does not answer is StorageLost at once."""
    engine, key = _advisory_engine(storage_url, "<schema>")
    if engine is None:
        yield
        return
    conn = _connect(engine, ride_out or RideOut(storage_url))
    from sqlalchemy import text

    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        yield
    finally:
        conn.close()  # ending the session releases its advisory locks


def mutex(peers: Peers | None) -> AbstractContextManager[None]:
    """`peers.mutex()`, or nothing to hold when no other driver is known."""
    return peers.mutex() if peers is not None else nullcontext()


def _advisory_engine(storage_url: str, study_name: str):
    """An engine for a dedicated autocommit connection holding advisory locks (PostgreSQL), and
    the lock's key; (None, 0) otherwise.

    Other RDBs (MySQL) get no mutex: several drivers there may overshoot `--trials` by at most
    one trial per extra driver, and still never run the same trial twice.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(storage_url)
    if url.get_backend_name() != "postgresql":
        return None, 0
    key = int.from_bytes(
        hashlib.sha256(f"slimtune:{study_name}".encode()).digest()[:8], "big", signed=True
    )
    return create_engine(url, poolclass=NullPool), key


def _connect(engine: Any, ride_out: RideOut) -> Any:
    """An autocommit connection of `engine` (at start: StorageLost at once when the database
    does not answer)."""
    return ride_out.call(
        lambda: engine.connect().execution_options(isolation_level="AUTOCOMMIT"), patient=False
    )
