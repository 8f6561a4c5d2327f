"""Train one configuration with several seeds. Runs inside a Ray worker (or any process)."""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spaces import CNNConfig


@dataclass(frozen=True)
class Recipe:
    """How every configuration is trained; part of a study's identity (resume checks it)."""

    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainingFailed(RuntimeError):
    """The configuration could not be trained (for example its loss became NaN)."""


@dataclass
class SeedsOutcome:
    """Per-seed results in seed order; `model_keras` is the saved model of the median seed."""

    seeds: list[int]
    val_accuracies: list[float]
    test_accuracies: list[float] | None
    train_time_s: float
    median_seed: int
    model_keras: bytes | None = None
    node: str = field(default_factory=lambda: os.uname().nodename)
    # Nodes of one cluster may share a hostname (several on one machine, or containers): the Ray
    # node id and IP tell them apart. Empty outside Ray.
    ray_node_id: str = field(default_factory=lambda: _ray_node()[0])
    node_ip: str = field(default_factory=lambda: _ray_node()[1])

    @property
    def worst_case_val_accuracy(self) -> float:
        return min(self.val_accuracies)


def _ray_node() -> tuple[str, str]:
    """(node id, node IP) of the Ray node running this code, ("", "") outside a Ray worker."""
    if "ray" not in sys.modules:  # never import Ray just to ask
        return "", ""
    import ray

    if not ray.is_initialized():
        return "", ""
    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()


def configure_threads(threads: int) -> None:
    """Give TensorFlow exactly `threads` CPU threads; Ray's CPU accounting does not reach it."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        pass  # already initialised in this reused worker process, with the same settings


def train_seeds(config: CNNConfig | dict, train: Any, val: Any, recipe: Recipe, seeds: list[int],
                threads: int = 1, test: Any = None, keep_model: bool = True) -> SeedsOutcome:
    """Train `config` once per seed on `train`, measure accuracy on `val` (and `test` if given).

    Raises TrainingFailed if a seed's loss becomes NaN or infinite.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_threads(threads)
    import keras

    config = CNNConfig.from_dict(config) if isinstance(config, dict) else config
    x_train, y_train = _scaled(train.x), train.y
    x_val, y_val = _scaled(val.x), val.y
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    val_acc, test_acc, models = [], [], []
    started = time.perf_counter()
    for seed in seeds:
        model = _fit_one(config, x_train, y_train, num_classes, recipe, seed)
        val_acc.append(_accuracy(model, x_val, y_val))
        if test is not None:
            test_acc.append(_accuracy(model, _scaled(test.x), test.y))
        models.append(model)
    elapsed = time.perf_counter() - started
    median = sorted(range(len(seeds)), key=lambda i: val_acc[i])[(len(seeds) - 1) // 2]
    outcome = SeedsOutcome(seeds=list(seeds), val_accuracies=val_acc,
                           test_accuracies=test_acc if test is not None else None,
                           train_time_s=elapsed, median_seed=seeds[median])
    if keep_model:
        outcome.model_keras = _to_bytes(models[median])
    keras.backend.clear_session()
    return outcome


def _fit_one(config: CNNConfig, x: np.ndarray, y: np.ndarray, num_classes: int, recipe: Recipe,
             seed: int):
    import keras

    from spaces import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(config, x.shape[1:], num_classes)
    model.compile(optimizer=keras.optimizers.get({"class_name": recipe.optimizer,
                                                  "config": {"learning_rate": recipe.learning_rate}}),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=recipe.batch_size, epochs=recipe.epochs, shuffle=True,
                        verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
    losses = history.history.get("loss", [])
    if len(losses) < recipe.epochs or not all(math.isfinite(v) for v in losses):
        raise TrainingFailed(f"loss became {losses[-1] if losses else 'NaN'} for seed {seed} "
                             f"({config.summary()}); try a lower --learning-rate")
    return model


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    probabilities = model.predict(x, batch_size=1024, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y))


def _scaled(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 255.0


def _to_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()
