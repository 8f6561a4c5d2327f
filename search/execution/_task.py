"""The training task both executors run: a `TrainingRequest` behind the fail-point hook of the
crash tests."""

from __future__ import annotations

from dataclasses import replace

from slimtune.search._data import Split
from slimtune.search._failpoints import apply_faults
from slimtune.search.training import SeedsOutcome, TrainingRequest, run_training


def train_task(
    request: TrainingRequest, train: Split, val: Split, held_out: Split | None = None
) -> SeedsOutcome:
    """One training (a Ray task, or inline), with the recipe a test's faults file may break."""
    recipe = apply_faults(request.config.summary(), request.recipe, request.kind)
    if recipe is not request.recipe:
        request = replace(request, recipe=recipe)
    return run_training(request, train, val, held_out)
