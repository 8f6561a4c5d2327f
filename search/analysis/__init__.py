"""After the trials: the Pareto analysis (pure numpy: `search.analysis.pareto` imports no
TensorFlow, Ray, MLflow or Optuna), confirmation on the test split, and the result contract."""
from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
