"""Train one configuration with several seeds. Runs inside a Ray worker (or any process).

Why it is fast (benchmarks/throughput.py measures it against plain `model.fit`):
- the images stay resident as one uint8 tensor; each batch is gathered, cast and scaled in-graph;
- a whole epoch runs as one `tf.function` call (no Python per step, no Keras callbacks);
- the seeds of a cheap model (`packs_seeds`: under PACKED_MAX_MACS per image) train as replicas
  packed into one network R times wider (search/training/_packed.py): replica r's images in its
  own channels, grouped convolutions, batched dense layers, so oneDNN runs one wide kernel
  instead of R narrow ones; each replica keeps its own initialisation and data order and trains
  as it would alone (a test checks it, float32). A costlier model's seeds train one at a time
  (each a pack of one), which measured faster for them;
- packed seeds of narrow models compute in float32 (oneDNN's grouped convolutions are 3-4x slower
  in bfloat16 there); a lone seed or a wide model, on CPUs with bfloat16 units, computes its
  convolutions in bfloat16 with float32 weights (the classifier and the loss stay float32); see
  `resolve_precision`.
  XLA (`jit_compile`) is not used: on CPU its convolutions are 2-3x slower than oneDNN's.

Racing and early stopping (a request with `required_accuracy`): the first seed trains
alone and the others only if it can still reach the threshold; after every epoch each seed is
checked with `_stopping.stop_reason`. The worst case over seeds is a minimum, so one seed
that cannot reach the threshold settles the whole trial.

Promotion (a request with `promotion`): a trial that missed the threshold after all the
recipe's epochs, but by little (`Promotion.near_miss_accuracy`, see
`_stopping.promotion_accuracy`), is
raced again from fresh initialisations with the full recipe; its outcome is that of the full
recipe, with the first rung's accuracies kept as `screen_val_accuracies`.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slimtune.search._data import Split, class_count
from slimtune.search.training._augment import augment_batch
from slimtune.search.training._cpu import (
    bfloat16_units,
    grouped_convolution_gradients,
)
from slimtune.search.training._packed import PackedNetwork, pack_images
from slimtune.search.training._process import configure_threads, freeze_library_objects, model_bytes
from slimtune.search.training._request import (
    Promotion,
    SeedsOutcome,
    TrainingFailed,
    TrainingRequest,
)
from slimtune.search.training._stopping import stop_reason
from slimtune.spaces import CNNConfig, Recipe, deployed_model, footprint

EVAL_BATCH = 1024


# A packed network computes in bfloat16 from this many filters in its widest convolution (per
# seed) up. 4 seeds, one epoch each way, one core (benchmarks/packing.py): the 24-filter reference
# model took 17 s in bfloat16 against 24-27 s in float32, `s5x57|c1x24-p4|gap` 29 against 33,
# `c5x16v-p4|c7x8|flatten|d53` 5.5 against 5.4, the 6-filter tiny model 4.5 against 2.4.
PACKED_BFLOAT16_MIN_FILTERS = 20
# Packing pays only where one seed's kernels are too small to keep a core busy. Measured, 3-5
# seeds x 1 epoch of 55,000 images on one core, packed vs one after another (benchmarks/packing.py):
# packed 1.6-2.1x faster at 27-45k MACs per image, 1.15-1.33x at 39k (separable + BatchNorm),
# 1.25x at 155k; 0.87-0.89x at 321k, 0.72-0.82x at 339k, 0.73-1.00x at 1.5M; bfloat16 and float32
# alike. The threshold lies between 155k and 321k; nothing between was measured.
PACKED_MAX_MACS = 250_000


def resolve_precision(precision: str, replicas: int = 1, widest_filters: int = 0) -> str:
    """The Keras dtype policy for a recipe's `precision` (spaces.PRECISIONS) when `replicas` seeds
    of a model whose widest convolution has `widest_filters` filters train packed together.

    "auto": oneDNN's grouped convolutions, which packed seeds run on, are slow in bfloat16 on
    narrow layers (3-4x slower than float32 on the search's small models), so packed seeds of a
    model narrower than PACKED_BFLOAT16_MIN_FILTERS compute in float32 on every CPU; a lone seed
    runs plain convolutions, and those, like wide grouped ones, are faster in mixed_bfloat16
    where the CPU has bfloat16 units that oneDNN may use (1.3-1.8x on the search's wider
    models; `bfloat16_units`).
    """
    if precision != "auto":
        return precision
    if replicas > 1 and widest_filters < PACKED_BFLOAT16_MIN_FILTERS:
        return "float32"
    return "mixed_bfloat16" if bfloat16_units() else "float32"


def train_cnn_seeds(
    request: TrainingRequest, train: Split, val: Split, held_out: Split | None = None
) -> SeedsOutcome:
    """The `Trainer` of slimtune's own blocks (a `spaces.CNNConfig`): see the module docstring.
    Raises TrainingFailed if a seed's loss becomes NaN or infinite."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_threads(request.threads)
    import keras

    freeze_library_objects()
    config = request.config
    if not isinstance(config, CNNConfig):
        raise TypeError(f"{config!r}: the fast trainer trains spaces.CNNConfig points")
    started = time.perf_counter()
    data = _Resident(train, val, held_out)
    pack = (
        packs_seeds(config, data.input_shape, data.num_classes)
        if request.pack is None
        else request.pack
    )
    # Without oneDNN (TF_ENABLE_ONEDNN_OPTS=0) TensorFlow cannot train packed seeds; one at a
    # time, each seed reaches what it reaches packed.
    pack = pack and grouped_convolution_gradients()
    recipe, seeds = request.recipe, list(request.seeds)
    runs, stopped = _race(
        config, data, recipe, seeds, request.required_accuracy, request.curves, pack
    )
    screen_runs: list[_Replica] = []
    promotion = request.promotion
    if promotion is not None and stopped and _near_miss(runs, recipe, promotion):
        screen_runs, recipe = runs, promotion.recipe
        runs, stopped = _race(
            config, data, recipe, seeds, request.required_accuracy, request.curves, pack
        )
    val_acc = [r.curve[-1] for r in runs]
    median = sorted(range(len(runs)), key=lambda i: val_acc[i])[(len(runs) - 1) // 2]
    outcome = SeedsOutcome(
        seeds=[r.seed for r in runs],
        val_accuracies=val_acc,
        test_accuracies=[data.accuracy([r.model], "test")[0] for r in runs]
        if held_out is not None and not stopped
        else None,
        train_time_s=0.0,
        median_seed=runs[median].seed,
        val_curves=[r.curve for r in runs],
        stopped_reason=stopped,
        precision="+".join(dict.fromkeys(r.precision for r in screen_runs + runs)),
        epochs_run=sum(r.epochs for r in screen_runs + runs),
        epochs=recipe.epochs,
        screen_val_accuracies=[r.curve[-1] for r in screen_runs],
    )
    if request.keep_model and not stopped:
        kept = runs if request.every_model else [runs[median]]
        saved = [
            model_bytes(deployed_model(config, r.model, data.input_shape, data.num_classes))
            for r in kept
        ]
        outcome.model_keras = saved[median if request.every_model else 0]
        outcome.seed_models = saved if request.every_model else []
    outcome.train_time_s = time.perf_counter() - started
    keras.backend.clear_session()
    return outcome


def packs_seeds(config: CNNConfig, input_shape: tuple[int, int, int], num_classes: int) -> bool:
    """Whether the seeds of `config` train faster packed into one network than one after another:
    only for models cheaper than PACKED_MAX_MACS multiply-accumulates per image."""
    return footprint(config, input_shape, num_classes).macs < PACKED_MAX_MACS


def _race(
    config: CNNConfig,
    data: _Resident,
    recipe: Recipe,
    seeds: list[int],
    required_accuracy: float | None,
    curves: bool,
    pack: bool,
) -> tuple[list[_Replica], str | None]:
    """All seeds under `recipe`; when racing, the first alone and the rest only if it holds.
    With `pack` the rest train packed as one group; otherwise the seeds train one at a time
    (and a race stops at the first seed that misses)."""
    if not pack:
        groups = [[seed] for seed in seeds]
    elif required_accuracy is None:
        groups = [list(seeds)]
    else:
        groups = [list(seeds[:1]), list(seeds[1:])]
    runs: list[_Replica] = []
    stopped = None
    for group in (g for g in groups if g):
        group_runs, stopped = _train_group(config, data, recipe, group, required_accuracy, curves)
        runs += group_runs
        if stopped:
            break
    return runs, stopped


def _near_miss(runs: list[_Replica], recipe: Recipe, promotion: Promotion) -> bool:
    """Every seed trained all of `recipe`'s epochs (none was cut short by the per-epoch rule)
    and the worst still reached `promotion.near_miss_accuracy`."""
    return (
        all(r.epochs == recipe.epochs for r in runs)
        and min(r.curve[-1] for r in runs) >= promotion.near_miss_accuracy
    )


@dataclass
class _Replica:
    seed: int
    model: Any  # its Keras model (float32): the initial weights, and the trained ones at the end
    order: np.random.Generator
    precision: str  # the dtype policy it trained under (resolve_precision)
    curve: list[float] = field(default_factory=list)
    epochs: int = 0


class _Resident:
    """The splits as uint8 tensors, scaled to [0, 1] float32 only batch by batch."""

    def __init__(self, train: Any, val: Any, test: Any) -> None:
        import tensorflow as tf

        self.x = {"train": tf.constant(train.x)}
        self.y = {"train": tf.constant(train.y.astype(np.int32))}
        for name, split in (("val", val), ("test", test)):
            if split is not None:
                self.x[name], self.y[name] = (
                    tf.constant(split.x),
                    tf.constant(split.y.astype(np.int32)),
                )
        self.num_classes = class_count(*(s for s in (train, val) if s is not None))
        height, width, channels = (int(d) for d in train.x.shape[1:])
        self.input_shape = (height, width, channels)
        self.n_train = int(train.x.shape[0])
        self._counters: dict[tuple[int, ...], Any] = {}  # one traced function per model group

    def accuracy(self, models: list[Any], split: str) -> list[float]:
        """Accuracy of each Keras model on `split`, in chunks so big activations never pile up."""
        key = tuple(id(m) for m in models)
        if key not in self._counters:
            self._counters[key] = _correct_counter(models)
        return self._count(self._counters[key], split)

    def packed_accuracy(self, net: PackedNetwork, split: str) -> list[float]:
        """Accuracy of each replica of `net` on `split` (every replica sees the same images)."""
        if (id(net),) not in self._counters:
            self._counters[(id(net),)] = _packed_correct_counter(net)
        return self._count(self._counters[(id(net),)], split)

    def _count(self, counter: Any, split: str) -> list[float]:
        x, y = self.x[split], self.y[split]
        n = int(x.shape[0])
        correct = sum(
            counter(x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH])
            .numpy()
            .astype(np.int64)
            for start in range(0, n, EVAL_BATCH)
        )
        return [float(c) / n for c in correct]


def _scale(x: Any) -> Any:
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 255.0


def _correct_counter(models: list[Any]) -> Any:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def count(x: Any, y: Any) -> Any:
        images = _scale(x)
        return tf.stack(
            [
                tf.reduce_sum(
                    tf.cast(
                        tf.equal(
                            tf.argmax(m(images, training=False), axis=1, output_type=tf.int32), y
                        ),
                        tf.int32,
                    )
                )
                for m in models
            ]
        )

    return count


def _packed_correct_counter(net: PackedNetwork) -> Any:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def count(x: Any, y: Any) -> Any:
        images = tf.tile(_scale(x), [1, 1, 1, net.replicas])
        predicted = tf.argmax(net(images, training=False), axis=2, output_type=tf.int32)
        return tf.reduce_sum(tf.cast(tf.equal(predicted, y[None, :]), tf.int32), axis=1)

    return count


def _train_group(
    config: CNNConfig,
    data: _Resident,
    recipe: Recipe,
    seeds: list[int],
    required_accuracy: float | None,
    curves: bool,
) -> tuple[list[_Replica], str | None]:
    """Train `seeds` side by side in one packed graph (search/training/_packed.py); returns the
    replicas, their Keras models holding the trained weights, and a stop reason or None."""
    import keras

    from slimtune.spaces import build_model

    precision = resolve_precision(
        recipe.precision, len(seeds), max(block.filters for block in config.blocks)
    )
    replicas = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)  # the initial weights (and dropout) of this seed
        model = build_model(config, data.input_shape, data.num_classes)
        replicas.append(_Replica(seed, model, np.random.default_rng(seed), precision))
    net = PackedNetwork(
        config, [r.model for r in replicas], "float32" if precision == "float32" else "bfloat16"
    )
    optimizer = recipe.make_optimizer(math.ceil(data.n_train / recipe.batch_size))
    optimizer.build(net.trainable)
    run_epoch = _epoch_function(net, optimizer, data, recipe.batch_size, recipe.augment, seeds)
    try:
        return replicas, _train_epochs(
            config, net, replicas, run_epoch, data, recipe, required_accuracy, curves
        )
    finally:
        net.unpack()


def _train_epochs(
    config: CNNConfig,
    net: PackedNetwork,
    replicas: list[_Replica],
    run_epoch: Any,
    data: _Resident,
    recipe: Recipe,
    required_accuracy: float | None,
    curves: bool,
) -> str | None:
    """The recipe's epochs for every replica; a stop reason or None."""
    # Under a decaying learning rate most of the gain comes late, so a curve's recent slope says
    # little about where it ends: only the exact check after the last epoch applies then.
    extrapolate = recipe.schedule == "constant"
    for epoch in range(recipe.epochs):
        orders = np.stack([r.order.permutation(data.n_train) for r in replicas]).astype(np.int32)
        mean_losses = run_epoch(orders, epoch).numpy()
        for replica, loss in zip(replicas, mean_losses, strict=False):
            if not math.isfinite(float(loss)):
                raise TrainingFailed(
                    f"loss became {float(loss)} for seed {replica.seed} "
                    f"({config.summary()}); try a lower --learning-rate"
                )
            replica.epochs += 1
        last = epoch == recipe.epochs - 1
        if not (last or curves or (required_accuracy is not None and extrapolate)):
            continue  # validation costs ~8% of a small model's epoch: only when needed
        for replica, acc in zip(replicas, data.packed_accuracy(net, "val"), strict=False):
            replica.curve.append(acc)
        if required_accuracy is None or not (last or extrapolate):
            continue
        for replica in replicas:
            # After the last epoch the rule compares the final accuracy itself, also when the
            # curve holds only that one point (no per-epoch validation under the cosine schedule).
            reason = stop_reason(
                replica.curve, recipe.epochs, required_accuracy, data.num_classes, final=last
            )
            if reason:
                return f"seed {replica.seed}: {reason}"
    return None


def _epoch_function(
    net: PackedNetwork,
    optimizer: Any,
    data: _Resident,
    batch_size: int,
    augment: str,
    seeds: list[int],
) -> Any:
    """One compiled call = one epoch for every replica; returns each replica's mean loss. With
    `augment`, each replica's images move by draws keyed by its seed (`_augment.py`)."""
    import tensorflow as tf

    n = data.n_train
    steps = math.ceil(n / batch_size)
    replica_seeds = tf.constant(seeds, tf.int64)

    def step(orders: Any, i: Any, epoch: Any, x: Any, y: Any) -> Any:
        start = i * batch_size
        index = orders[:, start : tf.minimum(start + batch_size, n)]  # [replicas, batch]
        moved = augment_batch(_scale(tf.gather(x, index)), replica_seeds, epoch, i, augment)
        images = pack_images(moved, net.replicas)
        labels = tf.gather(y, index)
        with tf.GradientTape() as tape:
            losses = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, net(images, training=True)),
                axis=1,
            )
            # The replicas share no weight: the gradient of the sum is each one's own gradient.
            total = tf.reduce_sum(losses)
        optimizer.apply(tape.gradient(total, net.trainable), net.trainable)
        return losses

    # The images are arguments, not captured: a traced graph outlives its trial in TensorFlow's
    # runtime, and a captured tensor with it (the training split, 39 MB for MNIST, leaked per
    # trial: a worker grew to 12 GB in a 60-minute search until Ray's OOM killer stopped it).
    @tf.function
    def compiled_epoch(orders: Any, epoch: Any, x: Any, y: Any) -> Any:
        total = tf.zeros(net.replicas, tf.float32)
        for i in tf.range(steps, dtype=tf.int64):
            total += step(orders, i, epoch, x, y)
        return total / steps

    def run_epoch(orders: Any, epoch: int) -> Any:
        return compiled_epoch(
            orders, tf.constant(epoch, tf.int64), data.x["train"], data.y["train"]
        )

    return run_epoch


def saved_model_accuracy(model_keras: bytes, split: Any) -> float:
    """Accuracy on `split` of a model saved by `train_seeds` (a deployed float32 model)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(model_keras)
        model = keras.saving.load_model(path, compile=False)
    # The split is made resident as the "train" split: only its chunked counter is used here.
    return _Resident(split, None, None).accuracy([model], "train")[0]
