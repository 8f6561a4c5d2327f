"""Ctrl-C and SIGTERM stop a search cleanly: the signal becomes `Interrupted`, except inside
`uninterruptible()` blocks (an Optuna tell and its MLflow run), where it waits for the block's end
so no record is cut in half."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """The user or the system asked the search to stop; exit code 128 + signal number."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_depth = 0
_deferred: list[int] = []
received: list[int] = []  # every signal handled, for the exit code (Typer keeps only "130")


def _handle(signum: int, frame: object) -> None:
    received.append(signum)
    if _depth:
        _deferred.append(signum)
        return
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM through `_handle` (call once, from the main thread)."""
    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)


@contextmanager
def uninterruptible() -> Iterator[None]:
    """Defer SIGINT/SIGTERM until the block ends."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if not _depth and _deferred:
        signum = _deferred.pop()
        _deferred.clear()
        raise Interrupted(signum)


@contextmanager
def through_ray() -> Iterator[None]:
    """Around a blocking Ray call: Ray's `ray.get`/`ray.wait` catch the `Interrupted` our handler
    raises (it is a KeyboardInterrupt) and raise a plain KeyboardInterrupt instead; turn it back,
    so the search stops cleanly rather than as if it had crashed."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(received[-1] if received else signal.SIGINT) from None
