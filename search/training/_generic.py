"""Training a user's HyperModel point with several seeds: plain Keras `fit`, one seed after the
other, with the threads this worker was given. The fast trainer (`_trainer.py`) knows only
slimtune's own blocks; this path trains any model `build(hp)` returns.

The model's own `compile` is kept when `build` compiled it (its optimizer, loss and epochs of the
recipe); otherwise slimtune's recipe compiles it (optimizer, learning rate and schedule, sparse
cross-entropy). Racing: with `required_accuracy`, the first seed trains alone and the others only
if it reached the threshold after the last epoch (the exact check; no extrapolation). Promotion
as in `_trainer.py`: a near miss (`promotion.near_miss_accuracy`) is raced again under the full
recipe, from fresh initialisations, its first rung's accuracies kept as `screen_val_accuracies`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from slimtune.search._data import Split, class_count
from slimtune.search.training._process import configure_threads, freeze_library_objects, model_bytes
from slimtune.search.training._request import SeedsOutcome, TrainingFailed, TrainingRequest
from slimtune.spaces import HyperModelConfig, Recipe, build_config

EVAL_BATCH = 1024


def train_hypermodel_seeds(
    request: TrainingRequest, train: Split, val: Split, held_out: Split | None = None
) -> SeedsOutcome:
    """The `Trainer` of a user's HyperModel point (a `spaces.HyperModelConfig`). Raises
    TrainingFailed on a NaN loss, and BuildFailed (spaces) if `build` raises."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_threads(request.threads)
    import keras

    freeze_library_objects()
    config = request.config
    if not isinstance(config, HyperModelConfig):
        raise TypeError(f"{config!r}: the generic trainer trains HyperModel points")
    if request.recipe.augment != "none":
        raise TrainingFailed(
            f"augment = {request.recipe.augment!r}: a HyperModel brings its own "
            "augmentation layers; train it with augment = 'none'"
        )
    recipe, seeds, required_accuracy = (
        request.recipe,
        list(request.seeds),
        request.required_accuracy,
    )
    started = time.perf_counter()
    x_train, x_val = _scaled(train.x), _scaled(val.x)
    x_test = _scaled(held_out.x) if held_out is not None else None
    num_classes = class_count(train, val)

    def race(recipe: Recipe) -> tuple[list[tuple[int, Any, list[float]]], str | None]:
        groups = [list(seeds)] if required_accuracy is None else [seeds[:1], seeds[1:]]
        trained: list[tuple[int, Any, list[float]]] = []
        for group in (g for g in groups if g):
            for seed in group:
                model, curve = _train_one(
                    config,
                    seed,
                    x_train,
                    train.y,
                    x_val,
                    val.y,
                    recipe,
                    num_classes,
                    request.curves,
                )
                trained.append((seed, model, curve))
            worst = min(t[2][-1] for t in trained)
            if required_accuracy is not None and worst < required_accuracy:
                return trained, (
                    f"seed {trained[-1][0]}: validation accuracy {worst:.4f} < "
                    f"{required_accuracy:.4f} after all {recipe.epochs} epochs"
                )
        return trained, None

    first_epochs = recipe.epochs
    trained, stopped = race(recipe)
    screen: list[tuple[int, Any, list[float]]] = []
    promotion = request.promotion
    if (
        promotion is not None
        and stopped
        and min(t[2][-1] for t in trained) >= promotion.near_miss_accuracy
    ):
        screen, recipe = trained, promotion.recipe
        trained, stopped = race(recipe)
    val_acc = [curve[-1] for _, _, curve in trained]
    median = sorted(range(len(trained)), key=lambda i: val_acc[i])[(len(trained) - 1) // 2]
    outcome = SeedsOutcome(
        seeds=[seed for seed, _, _ in trained],
        val_accuracies=val_acc,
        test_accuracies=[_accuracy(m, x_test, held_out.y) for _, m, _ in trained]
        if held_out is not None and x_test is not None and not stopped
        else None,
        train_time_s=0.0,
        median_seed=trained[median][0],
        val_curves=[curve for _, _, curve in trained],
        stopped_reason=stopped,
        precision="float32",
        epochs_run=len(screen) * first_epochs + len(trained) * recipe.epochs,
        epochs=recipe.epochs,
        screen_val_accuracies=[t[2][-1] for t in screen],
    )
    if request.keep_model and not stopped:
        # Saved as trained: the LiteRT converter folds BatchNorm at export, as the footprint does.
        outcome.model_keras = model_bytes(trained[median][1])
        if request.every_model:
            outcome.seed_models = [
                outcome.model_keras if i == median else model_bytes(model)
                for i, (_, model, _) in enumerate(trained)
            ]
    outcome.train_time_s = time.perf_counter() - started
    keras.backend.clear_session()
    return outcome


def _train_one(
    config: HyperModelConfig,
    seed: int,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    recipe: Recipe,
    num_classes: int,
    curves: bool,
) -> tuple[Any, list[float]]:
    import keras

    keras.utils.set_random_seed(seed)  # initial weights, dropout and the data order of this seed
    model = build_config(config)
    if not model.compiled:
        model.compile(
            optimizer=recipe.make_optimizer(math.ceil(len(x) / recipe.batch_size)),
            loss="sparse_categorical_crossentropy",
        )
    labels = _labels_for(model, y, num_classes)
    curve: list[float] = []
    for epoch in range(recipe.epochs):
        history = model.fit(
            x,
            labels,
            batch_size=recipe.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=True,
            verbose=0,
        )
        loss = float(history.history["loss"][-1])
        if not math.isfinite(loss):
            raise TrainingFailed(
                f"loss became {loss} for seed {seed} ({config.summary()}); try "
                "a lower --learning-rate"
            )
        if curves or epoch == recipe.epochs - 1:
            curve.append(_accuracy(model, x_val, y_val))
    return model, curve


def _labels_for(model: Any, y: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer labels, or one-hot ones when the model compiled a (non-sparse) categorical loss."""
    loss = getattr(model, "loss", None)
    name = loss if isinstance(loss, str) else type(loss).__name__
    if "categorical" in str(name).lower() and "sparse" not in str(name).lower():
        return np.eye(num_classes, dtype=np.float32)[y]
    return y


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    predictions = model.predict(x, batch_size=EVAL_BATCH, verbose=0)
    return float(np.mean(np.argmax(predictions, axis=-1) == y))


def _scaled(images: np.ndarray) -> np.ndarray:
    """uint8 images as the float32 [0, 1] inputs every slimtune model takes."""
    return images.astype(np.float32) / 255.0
