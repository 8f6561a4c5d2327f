"""The Optuna study: opening and resuming it, the planner that decides what to try, the focus
sampler, peer drivers on a shared RDB, and the study's MLflow records."""
from __future__ import annotations

from search._lazy import lazy_getattr

_EXPORTS = {
    "StudyContext": "search.study._context", "trial_points": "search.study._context",
    "count_states": "search.study._context", "check_measurable": "search.study._context",
    "footprint_of": "search.study._context", "holds_floor_and_budgets": "search.study._context",
    "trial_rows": "search.study._context",
    "open_study": "search.study._open", "storage_lock": "search.study._open",
    "requeue_interrupted": "search.study._open", "base_sampler": "search.study._open",
    "identity": "search.study._open", "data_digests": "search.study._open",
    "Planner": "search.study._planner", "FocusPlanner": "search.study._planner",
    "SmallestPlanner": "search.study._planner", "SizeSampler": "search.study._smallest",
    "Proposal": "search.study._planner", "planner_class": "search.study._planner",
    "frozen_trial": "search.study._planner", "BUILD_FAILED": "search.study._planner",
    "FocusedSampler": "search.study._focus", "FOCUS_REASON": "search.study._focus",
    "smallest_feasible": "search.study._focus",
    "Peers": "search.study._peers", "creation_lock": "search.study._peers",
    "mutex": "search.study._peers",
    "TrialRecords": "search.study._records", "NoRecords": "search.study._records",
    "input_dataset": "search.study._records", "input_example": "search.study._records",
    "record_heartbeat": "search.study._optuna_private",
    "heartbeat_interval": "search.study._optuna_private",
    "RideOut": "search.study._storage",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr('search.study', _EXPORTS)
