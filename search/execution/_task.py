"""The training task both executors run: `train_seeds` behind the fault-injection seam of tests."""
from __future__ import annotations

from typing import Any

from search.testing.faults import apply_faults
from search.training import train_seeds


def train_task(config: dict, train: Any, val: Any, recipe: Any, seeds: list[int],
               **kwargs: Any) -> Any:
    """One training (a Ray task, or inline): `train_seeds`, behind the fault-injection seam that tests use."""
    from spaces import CNNConfig, HyperModelConfig, is_hypermodel_config

    if isinstance(config, dict):
        config = (HyperModelConfig if is_hypermodel_config(config) else CNNConfig).from_dict(config)
    summary = config.summary()
    kind = "confirm" if kwargs.get("test") is not None else "trial"
    return train_seeds(config, train, val, apply_faults(summary, recipe, kind), seeds, **kwargs)
