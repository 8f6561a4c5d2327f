"""The names both sides read: what the search and `slimtune train` write to MLflow, and what the
registry, `slimtune pull` and the tests read back. One owner per name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TAG_PREFIX = "slimtune."
CHAMPION_ALIAS = "champion"
# Recipe values recorded as params of the search's (or `slimtune train`'s) parent run; a design
# template reads them back.
RECIPE_PARAMS = {
    "epochs": int,
    "batch_size": int,
    "learning_rate": float,
    "schedule": str,
    "augment": str,
}
# What a run read, as MLflow's `mlflow.data.context` input tag: the search's splits (recheck: the
# held-out training images confirmation rechecks on; test: read by confirmation and pull only).
DATASET_CONTEXTS = ("training", "validation", "recheck", "test")
# `slimtune pull` writes what it measured back to the pulled version as tags PULL_TAG_PREFIX +
# "<format>." + one of these (so pulls in several formats keep each other's numbers).
PULL_TAG_PREFIX = "pull."
# The champion's version carries the search's device budgets as tags BUDGET_TAG_PREFIX + name
# ("budget.max_flash_bytes": the int8 .tflite file, "budget.max_ram_bytes": the TFLM arena), so
# `slimtune pull` can check the file it writes against the bytes the model was searched for.
BUDGET_TAG_PREFIX = "budget."
PULL_MEASURES = (
    "file_bytes",
    "float_accuracy",
    "exported_accuracy",
    "drop",
    "test_images",
    "passed",
    "run_id",
)


def resolve_tracking_uri(flag: str | None, out: Path | str) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the SQLite store in the output folder."""
    return flag or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(out) / 'mlflow.db'}"


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """Flat MLflow params of a configuration (`CNNConfig.to_dict()`): n_blocks, kernel_size_0, ...;
    of a HyperModel point: the HyperModel and each hyperparameter value as `hp.<name>`."""
    if "hypermodel" in config:
        return {"hypermodel": config["hypermodel"]} | {
            f"hp.{name}": value for name, value in config["values"].items()
        }
    params: dict[str, Any] = {"n_blocks": len(config["blocks"])}
    for i, block in enumerate(config["blocks"]):
        params |= {f"{key}_{i}": value for key, value in block.items()}
    return params | {k: v for k, v in config.items() if k != "blocks"}


def seed_metrics(split: str, seeds: list[int], accuracies: list[float]) -> dict[str, float]:
    """Per-seed accuracy metrics, e.g. ``val_accuracy_seed_1000``."""
    pairs = zip(seeds, accuracies, strict=False)
    return {f"{split}_accuracy_seed_{seed}": acc for seed, acc in pairs}
