"""Running trainings: the executor protocol, Ray (default) and in-process executors, the trial
loop that connects a planner to an executor, and clean stops on Ctrl-C/SIGTERM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimtune.trackers import lazy_face

if TYPE_CHECKING:  # the face, spelled out once; served lazily at run time (trackers/_lazy.py)
    from slimtune.search.execution._inline import InlineExecutor as InlineExecutor
    from slimtune.search.execution._interrupt import Interrupted as Interrupted
    from slimtune.search.execution._interrupt import install as install
    from slimtune.search.execution._interrupt import received as received
    from slimtune.search.execution._interrupt import uninterruptible as uninterruptible
    from slimtune.search.execution._loop import run_trials as run_trials
    from slimtune.search.execution._protocol import Executor as Executor
    from slimtune.search.execution._protocol import TrialError as TrialError
    from slimtune.search.execution._ray import RayExecutor as RayExecutor
    from slimtune.search.execution._ray import ray_address_reachable as ray_address_reachable
    from slimtune.search.execution._task import train_task as train_task

__getattr__, __all__ = lazy_face(__name__, __file__)
