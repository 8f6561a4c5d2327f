"""After the trials: the Pareto analysis (pure numpy: `search.analysis.pareto` imports no
TensorFlow, Ray, MLflow or Optuna), confirmation on the test split, and the result contract."""
from __future__ import annotations

from search._lazy import lazy_getattr

_EXPORTS = {
    "TrialPoint": "search.analysis.pareto", "pareto_front": "search.analysis.pareto",
    "feasible_candidates": "search.analysis.pareto", "best_worst_case": "search.analysis.pareto",
    "confirm_candidates": "search.analysis._confirm",
    "CONFIRMATION_ATTR_PREFIX": "search.analysis._confirm",
    "SearchResult": "search.analysis._result", "Chosen": "search.analysis._result",
    "Confirmation": "search.analysis._result", "FrontPoint": "search.analysis._result",
    "StudyInfo": "search.analysis._result",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr('search.analysis', _EXPORTS)
