"""How we look: settings, data, the Optuna study and its planner, trainings on Ray, Pareto
analysis, confirmation and the result.

Subpackages: `training` (trainer, racing, seeds), `study` (open, planner, focus, peers, records),
`execution` (executors, trial loop, interrupts), `analysis` (pareto, confirmation, result),
`testing` (fault injection). Heavy modules load on first use, so `import search.analysis.pareto`
stays free of Optuna, Ray, MLflow and TensorFlow, and the CLI starts fast.
"""
from __future__ import annotations

from search._lazy import lazy_getattr

_EXPORTS = {
    "run_search": "search.pipeline", "run_study_in_process": "search.pipeline",
    "ensure_writable": "search.pipeline",
    "SearchSettings": "search._settings", "SIZE_OBJECTIVES": "search._settings",
    "SAMPLERS": "search._settings", "redact": "search._settings",
    "UsageError": "search._errors", "StorageLost": "search._errors",
    "resolve_dataset": "search._data", "DataSource": "search._data", "Split": "search._data",
    "class_count": "search._data", "image_shape": "search._data",
    "input_dataset": "search.study", "input_example": "search.study",
    "Progress": "search._progress",
    "train_seeds": "search.training", "SeedsOutcome": "search.training",
    "TrainingFailed": "search.training", "configure_threads": "search.training",
    "enable_onednn": "search.training",
    "check_seed_count": "search.training", "search_seeds": "search.training",
    "confirmation_seeds": "search.training", "stop_reason": "search.training",
    "required_accuracy": "search.training", "RULE_VERSION": "search.training",
    "InlineExecutor": "search.execution", "RayExecutor": "search.execution",
    "Planner": "search.study", "FocusPlanner": "search.study", "FOCUS_REASON": "search.study",
    "base_sampler": "search.study",
    "SearchResult": "search.analysis", "TrialPoint": "search.analysis",
    "pareto_front": "search.analysis", "feasible_candidates": "search.analysis",
    "report_html": "search.analysis", "load_finished_search": "search.analysis",
    "SlicePoint": "search.analysis", "kernel_slicing_png": "search.analysis",
}
_ALIASES = {"resolve_dataset": "resolve"}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr('search', _EXPORTS, _ALIASES)
