"""The Optuna study: opening and resuming it, the planner that decides what to try, the focus
sampler, peer drivers on a shared RDB, and the study's MLflow records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimtune.trackers import lazy_face

if TYPE_CHECKING:  # the face, spelled out once; served lazily at run time (trackers/_lazy.py)
    from slimtune.search.study._context import StudyContext as StudyContext
    from slimtune.search.study._context import check_measurable as check_measurable
    from slimtune.search.study._context import count_states as count_states
    from slimtune.search.study._context import footprint_of as footprint_of
    from slimtune.search.study._context import holds_floor_and_budgets as holds_floor_and_budgets
    from slimtune.search.study._context import trial_points as trial_points
    from slimtune.search.study._context import trial_rows as trial_rows
    from slimtune.search.study._focus import FOCUS_REASON as FOCUS_REASON
    from slimtune.search.study._focus import FocusedSampler as FocusedSampler
    from slimtune.search.study._focus import smallest_feasible as smallest_feasible
    from slimtune.search.study._open import base_sampler as base_sampler
    from slimtune.search.study._open import data_digests as data_digests
    from slimtune.search.study._open import identity as identity
    from slimtune.search.study._open import open_study as open_study
    from slimtune.search.study._open import requeue_interrupted as requeue_interrupted
    from slimtune.search.study._open import storage_lock as storage_lock
    from slimtune.search.study._optuna_private import heartbeat_interval as heartbeat_interval
    from slimtune.search.study._optuna_private import record_heartbeat as record_heartbeat
    from slimtune.search.study._peers import Peers as Peers
    from slimtune.search.study._peers import creation_lock as creation_lock
    from slimtune.search.study._peers import mutex as mutex
    from slimtune.search.study._planner import BUILD_FAILED as BUILD_FAILED
    from slimtune.search.study._planner import FocusPlanner as FocusPlanner
    from slimtune.search.study._planner import Planner as Planner
    from slimtune.search.study._planner import Proposal as Proposal
    from slimtune.search.study._planner import SmallestPlanner as SmallestPlanner
    from slimtune.search.study._planner import frozen_trial as frozen_trial
    from slimtune.search.study._planner import planner_class as planner_class
    from slimtune.search.study._records import NoRecords as NoRecords
    from slimtune.search.study._records import TrialRecords as TrialRecords
    from slimtune.search.study._records import input_dataset as input_dataset
    from slimtune.search.study._records import input_example as input_example
    from slimtune.search.study._smallest import SizeSampler as SizeSampler
    from slimtune.search.study._storage import RideOut as RideOut

__getattr__, __all__ = lazy_face(__name__, __file__)
