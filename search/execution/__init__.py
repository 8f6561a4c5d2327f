"""Running trainings: the executor protocol, Ray (default) and in-process executors, the trial
loop that connects a planner to an executor, and clean stops on Ctrl-C/SIGTERM."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Executor": "search.execution._protocol", "TrialError": "search.execution._protocol",
    "RayExecutor": "search.execution._ray", "ray_address_reachable": "search.execution._ray",
    "train_task": "search.execution._ray",
    "InlineExecutor": "search.execution._inline",
    "run_trials": "search.execution._loop",
    "Interrupted": "search.execution._interrupt", "install": "search.execution._interrupt",
    "received": "search.execution._interrupt", "uninterruptible": "search.execution._interrupt",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search.execution' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
