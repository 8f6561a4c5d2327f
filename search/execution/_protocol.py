"""What the trial loop and confirmation need from an executor: put data once, submit trainings,
wait for some to finish, read or cancel them. `RayExecutor` runs them on Ray (the default);
`InlineExecutor` in this process (unit tests and benchmarks)."""

from __future__ import annotations

from typing import Any, Protocol

from slimtune.search._data import Split
from slimtune.search.training import TrainingRequest


class TrialError(RuntimeError):
    """A training failed for good (after any retries); the message says why."""


class Executor(Protocol):
    def put(self, value: Any) -> Any:
        """A reference to `value` that `submit` accepts in place of it (shared, not copied)."""

    def submit(
        self,
        request: TrainingRequest,
        train: Split | Any,
        val: Split | Any,
        held_out: Split | Any | None = None,
    ) -> Any:
        """Start training `request` (with this executor's threads) on the splits or the
        references `put` gave for them; returns a handle."""

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        """The handles among `handles` that have finished (at most `timeout_s` of waiting)."""

    def result(self, handle: Any) -> Any:
        """The `SeedsOutcome` of a finished training; raises TrialError if it failed."""

    def cancel(self, handle: Any) -> None:
        """Stop a training; its result is never read."""
