"""What the trial loop and confirmation need from an executor: put data once, submit trainings,
wait for some to finish, read or cancel them. `RayExecutor` runs them on Ray (the default);
`InlineExecutor` in this process (unit tests and benchmarks)."""
from __future__ import annotations

from typing import Any, Protocol

from spaces import Recipe


class TrialError(RuntimeError):
    """A training failed for good (after any retries); the message says why."""


class Executor(Protocol):
    def put(self, value: Any) -> Any:
        """A reference to `value` that `submit` accepts in place of it (shared, not copied)."""

    def submit(self, config: dict[str, Any], train: Any, val: Any, recipe: Recipe,
               seeds: list[int], **options: Any) -> Any:
        """Start `train_seeds(config, train, val, recipe, seeds, **options)`; returns a handle."""

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        """The handles among `handles` that have finished (at most `timeout_s` of waiting)."""

    def result(self, handle: Any) -> Any:
        """The `SeedsOutcome` of a finished training; raises TrialError if it failed."""

    def cancel(self, handle: Any) -> None:
        """Stop a training; its result is never read."""
