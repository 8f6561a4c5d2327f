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
"""
from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from contextlib import contextmanager, nullcontext
from typing import ContextManager, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.study import _optuna_private as private

DRIVER_ATTR = "driver"
STUDY_ATTR_PREFIX = "slimtune.driver."
BEAT_INTERVAL_S = 10.0
GONE_AFTER_S = 60.0  # Optuna's grace period for a trial's heartbeat (search/study/_open.py)
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class Peers:
    """This driver's view of the other drivers of its study. `exclusive`: no other driver can write the study."""

    def __init__(self, study: optuna.Study, storage_url: str, exclusive: bool) -> None:
        self.study = study
        self.exclusive = exclusive
        self.id = uuid.uuid4().hex[:12]
        self._last_beat = 0.0
        self._conn = None
        self._key = 0
        if not exclusive:
            self._conn, self._key = _advisory_connection(storage_url, study.study_name)

    # --- mutual exclusion ---------------------------------------------------------------------
    @contextmanager
    def mutex(self) -> Iterator[None]:
        """Held by one driver of the study at a time (a no-op when this driver is exclusive)."""
        if self._conn is None:
            yield
            return
        from sqlalchemy import text

        self._conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self._key})
        try:
            yield
        finally:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})

    def ask(self, target: int) -> optuna.Trial | None:
        """A new trial owned by this driver, or None when the study already holds `target`
        finished or running trials (this driver's and every other's)."""
        with self.mutex():
            counted = len(self.study.get_trials(deepcopy=False, states=COUNTED_STATES))
            if counted >= target:
                return None
            trial = self.study.ask()
            trial.set_user_attr(DRIVER_ATTR, self.id)
            # A first heartbeat now: a driver killed before its next beat leaves a trial that
            # Optuna's fail_stale_trials can still recognise as orphaned.
            private.record_heartbeat(self.study, trial)
            return trial

    def others_running(self) -> bool:
        """Whether trials asked by other drivers are still running (never, when exclusive)."""
        if self.exclusive:
            return False
        optuna.storages.fail_stale_trials(self.study)  # orphans of a dead driver: re-queued
        return any(t.user_attrs.get(DRIVER_ATTR) != self.id for t in
                   self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    # --- liveness -----------------------------------------------------------------------------
    def beat(self, done: bool = False) -> None:
        """Record that this driver is alive (at most every BEAT_INTERVAL_S), or has finished."""
        if self.exclusive:
            return
        now = time.monotonic()
        if not done and now - self._last_beat < BEAT_INTERVAL_S:
            return
        self._last_beat = now
        self.study.set_user_attr(STUDY_ATTR_PREFIX + self.id, {
            "seen": self._server_time(), "done": done, "host": socket.gethostname(),
            "pid": os.getpid()})

    def finish(self) -> None:
        """This driver records no more trials; others may back-fill what it left unlogged."""
        try:
            self.beat(done=True)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def owner_gone(self, trial: FrozenTrial) -> bool:
        """True when no live driver other than this one will record `trial`."""
        owner = trial.user_attrs.get(DRIVER_ATTR)
        if self.exclusive or owner is None or owner == self.id:
            return True
        record = self.study.user_attrs.get(STUDY_ATTR_PREFIX + owner)
        return (record is None or record.get("done", False)
                or self._server_time() - record.get("seen", 0.0) > GONE_AFTER_S)

    def may_delete_run(self, trial_number: int) -> bool:
        """Whether a half-written MLflow run of `trial_number` is abandoned (its driver is gone)."""
        return self.owner_gone(private.trial_by_number(self.study, trial_number))

    def _server_time(self) -> float:
        """The database's clock, so drivers on machines with skewed clocks agree on ages."""
        if self._conn is None:
            return time.time()
        from sqlalchemy import text

        return float(self._conn.execute(text("SELECT extract(epoch from now())")).scalar())


@contextmanager
def creation_lock(storage_url: str) -> Iterator[None]:
    """Held while Optuna's tables and the study are created or opened (PostgreSQL): two drivers
    started together on an empty database would otherwise both create them, and one would fail."""
    conn, key = _advisory_connection(storage_url, "<schema>")
    if conn is None:
        yield
        return
    from sqlalchemy import text

    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        yield
    finally:
        conn.close()  # ending the session releases its advisory locks


def mutex(peers: Peers | None) -> ContextManager[None]:
    """`peers.mutex()`, or nothing to hold when no other driver is known."""
    return peers.mutex() if peers is not None else nullcontext()


def _advisory_connection(storage_url: str, study_name: str):
    """A dedicated autocommit connection for advisory locks (PostgreSQL); (None, 0) otherwise.

    Other RDBs (MySQL) get no mutex: several drivers there may overshoot `--trials` by at most
    one trial per extra driver, and still never run the same trial twice.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(storage_url)
    if url.get_backend_name() != "postgresql":
        return None, 0
    key = int.from_bytes(hashlib.sha256(f"slimtune:{study_name}".encode()).digest()[:8], "big",
                         signed=True)
    engine = create_engine(url, poolclass=NullPool)
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT"), key
