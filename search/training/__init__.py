"""Training one configuration with several seeds: the request and its outcome, the two trainers
(slimtune's fast trainer, plain `fit` for a HyperModel), racing and early stopping, the seed
scheme and what the CPU can do. Runs in Ray workers; TensorFlow loads on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimtune.trackers import lazy_face

if TYPE_CHECKING:  # the face, spelled out once; served lazily at run time (trackers/_lazy.py)
    from slimtune.search.training._cpu import ONEDNN_ENV_VAR as ONEDNN_ENV_VAR
    from slimtune.search.training._cpu import bfloat16_units as bfloat16_units
    from slimtune.search.training._cpu import enable_onednn as enable_onednn
    from slimtune.search.training._cpu import (
        grouped_convolution_gradients as grouped_convolution_gradients,
    )
    from slimtune.search.training._process import configure_threads as configure_threads
    from slimtune.search.training._request import Promotion as Promotion
    from slimtune.search.training._request import SeedsOutcome as SeedsOutcome
    from slimtune.search.training._request import Trainer as Trainer
    from slimtune.search.training._request import TrainingFailed as TrainingFailed
    from slimtune.search.training._request import TrainingRequest as TrainingRequest
    from slimtune.search.training._seeds import check_seed_count as check_seed_count
    from slimtune.search.training._seeds import confirmation_seeds as confirmation_seeds
    from slimtune.search.training._seeds import search_seeds as search_seeds
    from slimtune.search.training._seeds import seed_groups as seed_groups
    from slimtune.search.training._stopping import PROMOTION_ERROR_RATIO as PROMOTION_ERROR_RATIO
    from slimtune.search.training._stopping import RULE_VERSION as RULE_VERSION
    from slimtune.search.training._stopping import promotion_accuracy as promotion_accuracy
    from slimtune.search.training._stopping import required_accuracy as required_accuracy
    from slimtune.search.training._stopping import stop_reason as stop_reason
    from slimtune.search.training._train import run_training as run_training
    from slimtune.search.training._train import train_seeds as train_seeds
    from slimtune.search.training._trainer import packs_seeds as packs_seeds
    from slimtune.search.training._trainer import resolve_precision as resolve_precision
    from slimtune.search.training._trainer import saved_model_accuracy as saved_model_accuracy

__getattr__, __all__ = lazy_face(__name__, __file__)
