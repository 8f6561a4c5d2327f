"""Training one configuration with several seeds (the fast trainer), racing and early stopping,
and the seed scheme. Runs in Ray workers; TensorFlow loads on first use."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "train_seeds": "search.training._trainer", "SeedsOutcome": "search.training._trainer",
    "TrainingFailed": "search.training._trainer", "configure_threads": "search.training._trainer",
    "resolve_precision": "search.training._trainer",
    "stop_reason": "search.training._stopping", "required_accuracy": "search.training._stopping",
    "RULE_VERSION": "search.training._stopping",
    "check_seed_count": "search.training._seeds", "search_seeds": "search.training._seeds",
    "confirmation_seeds": "search.training._seeds",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
