"""How we look: the Optuna study on Ray, Pareto analysis, confirmation and the CLI.

Heavy modules load on first use, so `import search.pareto` stays free of Optuna, Ray, MLflow and
TensorFlow.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_search": "search._search", "SearchSettings": "search._settings",
    "SearchResult": "search._result", "UsageError": "search._errors",
    "resolve_dataset": "search._data", "train_seeds": "search._trainer", "Recipe": "search._trainer",
    "pareto_front": "search.pareto", "feasible_candidates": "search.pareto",
    "TrialPoint": "search.pareto",
}
_ALIASES = {"resolve_dataset": "resolve"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), _ALIASES.get(name, name))
