"""Running trainings: the executor protocol, Ray (default) and in-process executors, the trial
loop that connects a planner to an executor, and clean stops on Ctrl-C/SIGTERM."""
from __future__ import annotations

from search._lazy import lazy_getattr

_EXPORTS = {
    "Executor": "search.execution._protocol", "TrialError": "search.execution._protocol",
    "RayExecutor": "search.execution._ray", "ray_address_reachable": "search.execution._ray",
    "train_task": "search.execution._task",
    "InlineExecutor": "search.execution._inline",
    "run_trials": "search.execution._loop",
    "Interrupted": "search.execution._interrupt", "install": "search.execution._interrupt",
    "received": "search.execution._interrupt", "uninterruptible": "search.execution._interrupt",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr('search.execution', _EXPORTS)
