"""Trainings in this process, one at a time, behind the executor protocol: the real trial loop
without Ray, for unit tests and benchmarks that compare planners."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slimtune.search.execution._protocol import TrialError
from slimtune.search.execution._task import train_task
from slimtune.search.training import TrainingRequest


class InlineExecutor:
    """Runs each submitted training when it is first waited for, in submission order."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._queued: dict[int, tuple[Any, ...]] = {}
        self._done: dict[int, Any] = {}
        self._next = 0

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._queued.clear()

    def put(self, value: Any) -> Any:
        return value

    def submit(self, request: TrainingRequest, train: Any, val: Any, held_out: Any = None) -> int:
        handle = self._next
        self._next += 1
        self._queued[handle] = (replace(request, threads=self.threads), train, val, held_out)
        return handle

    def wait(self, handles: list[int], timeout_s: float) -> list[int]:
        finished = [h for h in handles if h in self._done]
        if finished or not handles:
            return finished
        handle = min(handles)
        args = self._queued.pop(handle)
        try:
            self._done[handle] = train_task(*args)
        except Exception as exc:  # as under Ray: any error of the task fails the trial
            self._done[handle] = TrialError(f"{type(exc).__name__}: {exc}")
        return [handle]

    def result(self, handle: int) -> Any:
        if handle not in self._done:
            self.wait([handle], timeout_s=0.0)
        outcome = self._done.pop(handle)
        if isinstance(outcome, TrialError):
            raise outcome
        return outcome

    def cancel(self, handle: int) -> None:
        self._queued.pop(handle, None)
        self._done.pop(handle, None)
