"""The study's storage, opened so that a restart of its database (PostgreSQL, MySQL) is ridden out.

A storage call that loses its connection is retried, reconnecting, for up to `RIDE_OUT_S`; past
that the search stops with `StorageLost` (one line, exit code 5), and the same command resumes it.
SQLite is a file, not a server: it is opened as before (its "disk full" must stay a disk error).

Never a write twice. Each Optuna storage call is one transaction. A call whose connection broke
before its COMMIT was sent changed nothing (the server rolls the transaction back), so it is
simply retried. A call whose COMMIT was sent when the connection broke may or may not have been
applied (`_CommitUnknown`); it is retried only where applying it twice equals applying it once
(reads; attribute, heartbeat and intermediate-value upserts; parameter inserts, whose duplicate
Optuna ignores; study creation, whose duplicate `load_if_exists` loads), or after reading the trial
back shows it was not applied (tell). Creating a trial, or taking a queued one, cannot be told
apart from another driver doing it: the search stops, and the trial it may have left RUNNING with
no driver recorded is failed by the next driver's ask (search/study/_peers.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from optuna.storages import RDBStorage
from optuna.trial import TrialState

from slimtune.search._errors import StorageLost
from slimtune.trackers import redact

# Long enough for a restart or a fail-over; short enough that no trial of ours looks orphaned to
# another driver (Optuna's grace period, search/study/_open.py GRACE_PERIOD_S = 60 s, minus the
# 10 s between heartbeats and a margin).
RIDE_OUT_S = 30.0
_FIRST_WAIT_S, _LONGEST_WAIT_S = 0.5, 4.0
T = TypeVar("T")


class _CommitUnknown(Exception):
    """The connection broke while COMMIT was under way: the write may or may not be stored.
    Not a SQLAlchemy error, so Optuna's own retry loops (`_create_new_trial`) let it through."""


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it came from, is the database connection failing (refused,
    cut by a restart, reset) rather than an error in what was asked."""
    from sqlalchemy import exc as sa_exc

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _CommitUnknown):
            return True
        if isinstance(seen, sa_exc.DBAPIError) and (
            seen.connection_invalidated
            or isinstance(seen, (sa_exc.OperationalError, sa_exc.InterfaceError))
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    """The database driver's first line about what failed, e.g. "connection refused"."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = getattr(seen, "orig", None)
        if orig is not None:
            return (str(orig).strip().splitlines() or [type(orig).__name__])[0].strip()
        if isinstance(seen, _CommitUnknown):
            return "connection lost during COMMIT"
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


class RideOut:
    """Retries calls that failed because the database connection did, for up to `limit_s` per
    outage, and says once through `notify` that the storage is away and once that it is back.
    One per search: the study's storage and the peers' lock connection share it."""

    def __init__(
        self,
        storage_url: str,
        notify: Callable[[str], None] | None = None,
        limit_s: float = RIDE_OUT_S,
    ) -> None:
        self.where = redact(storage_url)
        self.notify = notify or (lambda message: None)
        self.limit_s = limit_s
        self.gave_up = False  # once stopping, later calls (the cleanup's) fail at once

    def call(self, attempt: Callable[[], T], patient: bool = True) -> T:
        """`attempt()`, retried while it fails on the connection; `patient=False`: no retry (at
        start, when nothing is stored yet, a storage that does not answer is reported at once)."""
        down_since: float | None = None
        wait_s = _FIRST_WAIT_S
        retried = False
        while True:
            try:
                result = attempt()
            except Exception as exc:
                if not connection_lost(exc):
                    raise
                now = time.monotonic()
                if not patient or self.gave_up:
                    raise self.lost(exc) from exc
                if not retried:  # a connection a past restart cut: a fresh one answers at once
                    retried = True
                    continue
                if down_since is None:
                    down_since = now
                    self.notify(
                        f"the study's storage {self.where} does not answer "
                        f"({_reason(exc)}); retrying for up to {self.limit_s:g} s"
                    )
                if now - down_since >= self.limit_s:
                    self.gave_up = True
                    raise StorageLost(
                        f"the study's storage {self.where} has not answered for "
                        f"{self.limit_s:g} s ({_reason(exc)}); run the same command "
                        "again once it answers to resume"
                    ) from exc
                time.sleep(min(wait_s, self.limit_s - (now - down_since)))
                wait_s = min(2 * wait_s, _LONGEST_WAIT_S)
                continue
            if down_since is not None:
                self.notify(
                    f"the study's storage {self.where} answers again after "
                    f"{time.monotonic() - down_since:.0f} s; the study goes on"
                )
            return result

    def lost(self, exc: BaseException) -> StorageLost:
        """The error that stops the search at once: `exc` lost the connection."""
        self.gave_up = True
        return StorageLost(
            f"the study's storage {self.where} does not answer ({_reason(exc)}); "
            "start it, then run the same command again to resume"
        )


# Storage calls whose repetition after an unknown COMMIT changes nothing (see the module's doc).
_REPEATABLE = (
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "get_trial_param",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "_get_trials",
    "get_best_trial",
    "_get_best_trial_id",
    "_get_stale_trial_ids",
    "create_new_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "set_trial_param",
    "_set_trial_param",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "record_heartbeat",
)
# Calls whose outcome after an unknown COMMIT cannot be known: the search stops.
_UNREPEATABLE = ("create_new_trial", "_create_new_trial")


class ResilientRDBStorage(RDBStorage):
    """Optuna's RDBStorage that rides out a database restart (see the module's doc). Every
    storage method Optuna's study and `_CachedStorage` call goes through `_ride_out`."""

    def __init__(self, url: str, ride_out: RideOut, **kwargs: Any) -> None:
        from sqlalchemy import event

        self._ride_out_with = ride_out
        self._local = threading.local()
        try:
            # pool_pre_ping: a pooled connection the restart cut is replaced when checked out.
            super().__init__(url, engine_kwargs={"pool_pre_ping": True}, **kwargs)
        except Exception as exc:
            if not connection_lost(exc):
                raise
            raise ride_out.lost(exc) from exc
        event.listen(self.engine, "begin", self._on_begin)
        event.listen(self.engine, "commit", self._on_commit)
        event.listen(self.engine, "handle_error", self._on_error)

    # --- which COMMIT failed ------------------------------------------------------------------
    def _on_begin(self, conn: Any) -> None:
        self._local.committing = False

    def _on_commit(self, conn: Any) -> None:
        self._local.committing = True

    def _on_error(self, context: Any) -> None:
        from sqlalchemy import exc as sa_exc

        # No connection: it failed to connect, so nothing was sent.
        if (
            getattr(self._local, "committing", False)
            and context.connection is not None
            and (
                context.is_disconnect
                or isinstance(context.sqlalchemy_exception, sa_exc.OperationalError)
            )
        ):
            raise _CommitUnknown(str(context.original_exception))

    # --- the retry ----------------------------------------------------------------------------
    def _ride_out(
        self, call: Callable[[], T], repeatable: bool, applied: Callable[[], T | None] | None = None
    ) -> T:
        """`call()`, ridden out; `applied()` reads back whether an unknown COMMIT was stored
        (its result) or not (None), or raises StorageLost when that cannot be known."""
        if getattr(self._local, "inside", False):
            return call()  # a storage method calling another: the outer one retries
        unsure = False

        def attempt() -> T:
            nonlocal unsure
            if unsure:
                if applied is None:
                    raise StorageLost(
                        f"the study's storage {self._ride_out_with.where} lost the "
                        "connection while a trial was being created, so whether "
                        "it was cannot be known; run the same command again to "
                        "resume"
                    ) from None
                stored = applied()
                if stored is not None:
                    return stored
                unsure = False
            self._local.committing = False
            try:
                return call()
            except Exception as exc:
                if not repeatable and _commit_unknown(exc):
                    unsure = True
                raise

        self._local.inside = True
        try:
            return self._ride_out_with.call(attempt)
        finally:
            self._local.inside = False

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        def applied() -> bool | None:
            stored = RDBStorage.get_trial(self, trial_id)
            if (
                state.is_finished()
                and stored.state == state
                and (values is None or list(stored.values or []) == list(values))
            ):
                return True  # stored before the connection broke
            if stored.state == TrialState.RUNNING and state.is_finished():
                return None  # not stored: tell it again
            raise StorageLost(
                f"the study's storage {self._ride_out_with.where} lost the "
                f"connection while trial {stored.number} was set {state.name}, "
                "so whether it was cannot be known; run the same command again "
                "to resume"
            ) from None

        return self._ride_out(
            lambda: RDBStorage.set_trial_state_values(self, trial_id, state, values),
            repeatable=False,
            applied=applied,
        )


def _commit_unknown(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _CommitUnknown):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _riding_out(name: str, repeatable: bool) -> Callable[..., Any]:
    method = getattr(RDBStorage, name)

    def ridden_out(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self._ride_out(lambda: method(self, *args, **kwargs), repeatable)

    ridden_out.__name__ = name
    ridden_out.__doc__ = method.__doc__
    return ridden_out


for _name in _REPEATABLE + _UNREPEATABLE:
    setattr(ResilientRDBStorage, _name, _riding_out(_name, _name in _REPEATABLE))


def open_storage(url: str, ride_out: RideOut | None, **kwargs: Any) -> RDBStorage:
    """The study's RDBStorage: ridden out on a database server, as before on SQLite (or when
    `ride_out` is None)."""
    from sqlalchemy.engine import make_url

    if ride_out is None or make_url(url).get_backend_name() == "sqlite":
        return RDBStorage(url, **kwargs)
    return ResilientRDBStorage(url, ride_out, **kwargs)
