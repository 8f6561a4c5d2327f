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

Racing and early stopping (when the driver passes `required_accuracy`): the first seed trains
alone and the others only if it can still reach the threshold; after every epoch each seed is
checked with `_stopping.stop_reason`. The worst case over seeds is a minimum, so one seed
that cannot reach the threshold settles the whole trial.

Promotion (when the driver passes `promote`): a trial that missed the threshold after all the
recipe's epochs, but by little (`Promotion.min_accuracy`, see `_stopping.promotion_accuracy`), is
raced again from fresh initialisations with the full recipe; its outcome is that of the full
recipe, with the first rung's accuracies kept as `screen_val_accuracies`.
"""
from __future__ import annotations

import gc
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search._data import class_count
from search.training._cpu import bfloat16_units, enable_onednn, grouped_convolution_gradients
from search.training._packed import PackedNetwork, pack_images
from search.training._stopping import stop_reason
from spaces import CNNConfig, Recipe, deployed_model, footprint, is_hypermodel_config

EVAL_BATCH = 1024


@dataclass(frozen=True)
class Promotion:
    """Near misses of the first rung train again with `recipe` (the full recipe): those whose
    worst seed reached at least `min_accuracy` after all of the first rung's epochs."""

    recipe: Recipe
    min_accuracy: float


class TrainingFailed(RuntimeError):
    """The configuration could not be trained (for example its loss became NaN)."""


@dataclass
class SeedsOutcome:
    """Per-seed results in seed order; `model_keras` is the saved model of the median seed.

    A trial stopped early (`stopped_reason` set) lists only the seeds that trained, with the
    validation accuracy each had when it stopped; it has no model.
    """

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
    # Per seed, validation accuracy after each epoch when racing (or asked for with `curves`);
    # otherwise after the last epoch only.
    val_curves: list[list[float]] = field(default_factory=list)
    stopped_reason: str | None = None
    precision: str = "float32"
    epochs_run: int = 0  # seed-epochs actually trained, both rungs (a full trial: seeds x epochs)
    epochs: int = 0  # the recipe's epochs that `val_accuracies` were measured after
    # A promoted trial: each trained seed's validation accuracy at the first rung's epochs.
    screen_val_accuracies: list[float] = field(default_factory=list)
    # With `every_model`: each seed's saved model, in seed order (confirmation keeps them all).
    seed_models: list[bytes] = field(default_factory=list)

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


def freeze_library_objects() -> None:
    """Once per process, after TensorFlow and Keras are loaded: keep the ~400,000 objects alive
    now (their modules) out of every later garbage collection. Each trial ends with
    `keras.backend.clear_session`, whose collection scanned them all: 0.15-0.2 s per trial,
    outside the training time, against 0.003 s frozen (BENCHMARKS.md §1d). Frozen objects are
    still freed by reference counting; only cycles among them (module state) are never
    collected."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


_frozen = False


# A packed network computes in bfloat16 from this many filters in its widest convolution (per
# seed) up. 4 seeds, one epoch each way, one core (BENCHMARKS.md §1c): the 24-filter reference
# model took 17 s in bfloat16 against 24-27 s in float32, `s5x57|c1x24-p4|gap` 29 against 33,
# `c5x16v-p4|c7x8|flatten|d53` 5.5 against 5.4, the 6-filter tiny model 4.5 against 2.4.
PACKED_BFLOAT16_MIN_FILTERS = 20
# Packing pays only where one seed's kernels are too small to keep a core busy. Measured, 3-5
# seeds x 1 epoch of 55,000 images on one core, packed vs one after another (BENCHMARKS.md §1d):
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


def train_seeds(config: CNNConfig | dict, train: Any, val: Any, recipe: Recipe, seeds: list[int],
                threads: int = 1, test: Any = None, keep_model: bool = True,
                required_accuracy: float | None = None, curves: bool = False,
                promote: Promotion | None = None, every_model: bool = False,
                pack: bool | None = None) -> SeedsOutcome:
    """Train `config` once per seed on `train`, measure accuracy on `val` (and `test` if given).

    With `required_accuracy`, seeds race (first seed alone, then the rest) and stop as soon as
    one cannot plausibly reach it; the outcome then has `stopped_reason` set and no model.
    With `promote` as well, a near miss is raced again under `promote.recipe` (module docstring).
    `curves` measures validation accuracy after every epoch even without racing.
    `every_model` saves every seed's model (`seed_models`), not only the median seed's.
    `pack` overrides `packs_seeds` (benchmarks/packing.py measures both ways).
    Raises TrainingFailed if a seed's loss becomes NaN or infinite. A HyperModel point
    (`spaces.HyperModelConfig`) trains on the generic path (search/training/_generic.py).
    """
    enable_onednn()  # before TensorFlow loads, if this process has not loaded it yet
    if is_hypermodel_config(config):  # a user's HyperModel: the generic path (_generic.py)
        from search.training._generic import train_hypermodel_seeds

        return train_hypermodel_seeds(config, train, val, recipe, seeds, threads, test,
                                      keep_model, required_accuracy, curves, promote,
                                      every_model)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_threads(threads)
    import keras

    freeze_library_objects()
    config = CNNConfig.from_dict(config) if isinstance(config, dict) else config
    started = time.perf_counter()
    data = _Resident(train, val, test)
    if pack is None:
        pack = packs_seeds(config, data.input_shape, data.num_classes)
    # Without oneDNN (TF_ENABLE_ONEDNN_OPTS=0) TensorFlow cannot train packed seeds; one at a
    # time, each seed reaches what it reaches packed.
    pack = pack and grouped_convolution_gradients()
    runs, stopped = _race(config, data, recipe, seeds, required_accuracy, curves, pack)
    screen_runs: list[_Replica] = []
    if promote is not None and stopped and _near_miss(runs, recipe, promote):
        screen_runs, recipe = runs, promote.recipe
        runs, stopped = _race(config, data, recipe, seeds, required_accuracy, curves, pack)
    val_acc = [r.curve[-1] for r in runs]
    median = sorted(range(len(runs)), key=lambda i: val_acc[i])[(len(runs) - 1) // 2]
    outcome = SeedsOutcome(
        seeds=[r.seed for r in runs], val_accuracies=val_acc,
        test_accuracies=[data.accuracy([r.model], "test")[0] for r in runs]
        if test is not None and not stopped else None,
        train_time_s=0.0, median_seed=runs[median].seed, val_curves=[r.curve for r in runs],
        stopped_reason=stopped,
        precision="+".join(dict.fromkeys(r.precision for r in screen_runs + runs)),
        epochs_run=sum(r.epochs for r in screen_runs + runs), epochs=recipe.epochs,
        screen_val_accuracies=[r.curve[-1] for r in screen_runs])
    if keep_model and not stopped:
        kept = runs if every_model else [runs[median]]
        saved = [_to_bytes(deployed_model(config, r.model, data.input_shape, data.num_classes))
                 for r in kept]
        outcome.model_keras = saved[median if every_model else 0]
        outcome.seed_models = saved if every_model else []
    outcome.train_time_s = time.perf_counter() - started
    keras.backend.clear_session()
    return outcome


def packs_seeds(config: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> bool:
    """Whether the seeds of `config` train faster packed into one network than one after another:
    only for models cheaper than PACKED_MAX_MACS multiply-accumulates per image."""
    return footprint(config, input_shape, num_classes).macs < PACKED_MAX_MACS


def _race(config: CNNConfig, data: _Resident, recipe: Recipe, seeds: list[int],
          required_accuracy: float | None, curves: bool, pack: bool
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
        group_runs, stopped = _train_group(config, data, recipe, group, required_accuracy,
                                           curves)
        runs += group_runs
        if stopped:
            break
    return runs, stopped


def _near_miss(runs: list[_Replica], recipe: Recipe, promote: Promotion) -> bool:
    """Every seed trained all of `recipe`'s epochs (none was cut short by the per-epoch rule)
    and the worst still reached `promote.min_accuracy`."""
    return all(r.epochs == recipe.epochs for r in runs) and \
        min(r.curve[-1] for r in runs) >= promote.min_accuracy


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
                self.x[name], self.y[name] = tf.constant(split.x), tf.constant(
                    split.y.astype(np.int32))
        self.num_classes = class_count(*(s for s in (train, val) if s is not None))
        self.input_shape = tuple(int(d) for d in train.x.shape[1:])
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
        correct = sum(counter(x[start:start + EVAL_BATCH], y[start:start + EVAL_BATCH]).numpy()
                      .astype(np.int64) for start in range(0, n, EVAL_BATCH))
        return [float(c) / n for c in correct]


def _scale(x: Any) -> Any:
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 255.0


def _correct_counter(models: list[Any]) -> Any:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def count(x: Any, y: Any) -> Any:
        images = _scale(x)
        return tf.stack([tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(m(images, training=False), axis=1, output_type=tf.int32), y),
            tf.int32)) for m in models])
    return count


def _packed_correct_counter(net: PackedNetwork) -> Any:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def count(x: Any, y: Any) -> Any:
        images = tf.tile(_scale(x), [1, 1, 1, net.replicas])
        predicted = tf.argmax(net(images, training=False), axis=2, output_type=tf.int32)
        return tf.reduce_sum(tf.cast(tf.equal(predicted, y[None, :]), tf.int32), axis=1)
    return count


def _train_group(config: CNNConfig, data: _Resident, recipe: Recipe, seeds: list[int],
                 required_accuracy: float | None, curves: bool
                 ) -> tuple[list[_Replica], str | None]:
    """Train `seeds` side by side in one packed graph (search/training/_packed.py); returns the
    replicas, their Keras models holding the trained weights, and a stop reason or None."""
    import keras

    from spaces import build_model

    precision = resolve_precision(recipe.precision, len(seeds),
                                  max(block.filters for block in config.blocks))
    replicas = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)  # the initial weights (and dropout) of this seed
        model = build_model(config, data.input_shape, data.num_classes)
        replicas.append(_Replica(seed, model, np.random.default_rng(seed), precision))
    net = PackedNetwork(config, [r.model for r in replicas],
                        "float32" if precision == "float32" else "bfloat16")
    optimizer = recipe.make_optimizer(math.ceil(data.n_train / recipe.batch_size))
    optimizer.build(net.trainable)
    run_epoch = _epoch_function(net, optimizer, data, recipe.batch_size)
    try:
        return replicas, _train_epochs(config, net, replicas, run_epoch, data, recipe,
                                       required_accuracy, curves)
    finally:
        net.unpack()


def _train_epochs(config: CNNConfig, net: PackedNetwork, replicas: list[_Replica],
                  run_epoch: Any, data: _Resident, recipe: Recipe,
                  required_accuracy: float | None, curves: bool) -> str | None:
    """The recipe's epochs for every replica; a stop reason or None."""
    # Under a decaying learning rate most of the gain comes late, so a curve's recent slope says
    # little about where it ends: only the exact check after the last epoch applies then.
    extrapolate = recipe.schedule == "constant"
    for epoch in range(recipe.epochs):
        orders = np.stack([r.order.permutation(data.n_train) for r in replicas]).astype(np.int32)
        mean_losses = run_epoch(orders).numpy()
        for replica, loss in zip(replicas, mean_losses):
            if not math.isfinite(float(loss)):
                raise TrainingFailed(f"loss became {float(loss)} for seed {replica.seed} "
                                     f"({config.summary()}); try a lower --learning-rate")
            replica.epochs += 1
        last = epoch == recipe.epochs - 1
        if not (last or curves or (required_accuracy is not None and extrapolate)):
            continue  # validation costs ~8% of a small model's epoch: only when needed
        for replica, acc in zip(replicas, data.packed_accuracy(net, "val")):
            replica.curve.append(acc)
        if required_accuracy is None or not (last or extrapolate):
            continue
        for replica in replicas:
            # After the last epoch the rule compares the final accuracy itself, also when the
            # curve holds only that one point (no per-epoch validation under the cosine schedule).
            reason = stop_reason(replica.curve, recipe.epochs, required_accuracy,
                                 data.num_classes, final=last)
            if reason:
                return f"seed {replica.seed}: {reason}"
    return None


def _epoch_function(net: PackedNetwork, optimizer: Any, data: _Resident, batch_size: int) -> Any:
    """One compiled call = one epoch for every replica; returns each replica's mean loss."""
    import tensorflow as tf

    n = data.n_train
    steps = math.ceil(n / batch_size)

    def step(orders: Any, start: Any, x: Any, y: Any) -> Any:
        index = orders[:, start:tf.minimum(start + batch_size, n)]  # [replicas, batch]
        images = pack_images(_scale(tf.gather(x, index)), net.replicas)
        labels = tf.gather(y, index)
        with tf.GradientTape() as tape:
            losses = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels, net(images, training=True)), axis=1)
            # The replicas share no weight: the gradient of the sum is each one's own gradient.
            total = tf.reduce_sum(losses)
        optimizer.apply(tape.gradient(total, net.trainable), net.trainable)
        return losses

    # The images are arguments, not captured: a traced graph outlives its trial in TensorFlow's
    # runtime, and a captured tensor with it (the training split, 39 MB for MNIST, leaked per
    # trial: a worker grew to 12 GB in a 60-minute search until Ray's OOM killer stopped it).
    @tf.function
    def compiled_epoch(orders: Any, x: Any, y: Any) -> Any:
        total = tf.zeros(net.replicas, tf.float32)
        for i in tf.range(steps):
            total += step(orders, i * batch_size, x, y)
        return total / steps

    def run_epoch(orders: Any) -> Any:
        return compiled_epoch(orders, data.x["train"], data.y["train"])
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


def _to_bytes(model: Any) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()
