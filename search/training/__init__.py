"""Training one configuration with several seeds (the fast trainer), racing and early stopping,
and the seed scheme. Runs in Ray workers; TensorFlow loads on first use."""
from __future__ import annotations

from search._lazy import lazy_getattr

_EXPORTS = {
    "train_seeds": "search.training._trainer", "SeedsOutcome": "search.training._trainer",
    "TrainingFailed": "search.training._trainer", "configure_threads": "search.training._trainer",
    "Promotion": "search.training._trainer",
    "promotion_accuracy": "search.training._stopping",
    "PROMOTION_ERROR_RATIO": "search.training._stopping",
    "resolve_precision": "search.training._trainer", "packs_seeds": "search.training._trainer",
    "saved_model_accuracy": "search.training._trainer",
    "stop_reason": "search.training._stopping", "required_accuracy": "search.training._stopping",
    "RULE_VERSION": "search.training._stopping",
    "enable_onednn": "search.training._cpu", "ONEDNN_ENV_VAR": "search.training._cpu",
    "grouped_convolution_gradients": "search.training._cpu",
    "bfloat16_units": "search.training._cpu",
    "check_seed_count": "search.training._seeds", "search_seeds": "search.training._seeds",
    "confirmation_seeds": "search.training._seeds", "seed_groups": "search.training._seeds",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr('search.training', _EXPORTS)
