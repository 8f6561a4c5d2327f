"""Plain `model.fit` (what Keras Tuner runs per trial) vs slimtune's trial training: same
configuration, data, seeds, epochs, batch size and threads, run alternately in one process.

    python benchmarks/throughput.py [--config reference|light|tiny|separable-bn|PRESET|JSON ...]
        [--train-size 55000] [--epochs 2] [--seeds 3] [--rounds 2] [--threads 1]
        [--precision auto|float32|mixed_bfloat16] [--bound] [--breakdown]

For each model (repeat --config): images/s of each (seeds x epochs x images / wall seconds,
model building and graph tracing included), the worst-case validation accuracy of each and the
ratio; the last line lists every model's ratio. slimtune's trainer computes in float32 by default
(`auto`) on every CPU; `--precision mixed_bfloat16` measures its bfloat16 mode (plain `fit` is
float32 either way). `--bound` also measures each model's compute bound, its bare forward +
backward pass in slimtune's precision (`compute_bound`), and prints slimtune's share of it.
`--breakdown` splits the shortfall: the optimizer's update, the rest of the trainer's step, and
each seed's fixed cost (each round also trains with twice the epochs; the difference is epochs
without building, tracing or validation).

`--cpu avx2` stands in for an AVX2-only CPU (no AVX-512, no bfloat16) on this one: every
measurement runs in its own process with `ONEDNN_MAX_CPU_ISA=AVX2`, and the rows are plain `fit`
as TensorFlow runs it there by default (oneDNN off), plain `fit` with oneDNN on, slimtune as
shipped (it turns oneDNN on), and slimtune with the user's `TF_ENABLE_ONEDNN_OPTS=0` (seeds one at
a time); `--jax` adds plain `fit` on Keras' JAX backend (needs `pip install jax`). The ratio is
slimtune's over TensorFlow's default plain `fit`; `--bound` measures the bound with oneDNN on.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import _common  # noqa: F401  (puts the repository on sys.path)

if TYPE_CHECKING:
    from slimtune.spaces import Recipe


def plain_fit(
    config: Any,
    train: Any,
    val: Any,
    seeds: list[int],
    epochs: int,
    batch_size: int,
    recipe: Recipe | None = None,
) -> list[float]:
    """Keras Tuner's inner loop: compile, fit with shuffling, evaluate, once per seed.

    Without `recipe`: Adam(1e-3), `epochs` and `batch_size`. With a `spaces.Recipe`, its optimizer
    and learning-rate schedule (`recipe.make_optimizer`), its epochs and its batch size replace
    them; its precision is not used (plain `model.fit` trains in float32)."""
    import keras

    from slimtune.spaces import build_model

    if recipe is not None:
        epochs, batch_size = recipe.epochs, recipe.batch_size
    x, y = train.x.astype(np.float32) / 255.0, train.y
    x_val = val.x.astype(np.float32) / 255.0
    steps_per_epoch = math.ceil(len(x) / batch_size)
    accuracies = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = build_model(config, x.shape[1:], 10)
        optimizer = (
            keras.optimizers.Adam(1e-3)
            if recipe is None
            else recipe.make_optimizer(steps_per_epoch)
        )
        model.compile(
            optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
        predicted = np.argmax(model.predict(x_val, batch_size=1024, verbose=0), axis=1)
        accuracies.append(float(np.mean(predicted == val.y)))
    keras.backend.clear_session()
    return accuracies


def compute_bound(
    config: Any,
    input_shape: tuple[int, ...],
    precision: str,
    batch_size: int,
    steps: int = 200,
    rounds: int = 2,
    recipe: Recipe | None = None,
) -> float:
    """Images/s of the model's bare forward + backward pass on one resident random batch under
    the Keras policy `precision`: no data handling, no optimizer, every step inside one compiled
    loop. Nothing that trains this model per seed can beat it (a seed trained alone runs these
    kernels; packed seeds run others, so this is the bound of compute-bound models only).
    With `recipe`, each step also applies its optimizer (`--breakdown`: the optimizer's share)."""
    import keras
    import tensorflow as tf

    from slimtune.spaces import build_model

    keras.utils.set_random_seed(0)
    model = build_model(config, input_shape, 10, dtype=precision)
    x = tf.random.uniform((batch_size, *input_shape))
    y = tf.random.uniform((batch_size,), 0, 10, tf.int32)

    optimizer = None
    if recipe is not None:
        optimizer = recipe.make_optimizer(steps)
        optimizer.build(model.trainable_variables)

    @tf.function
    def run(n: Any) -> Any:
        total = tf.constant(0.0)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
                )
            grads = tape.gradient(loss, model.trainable_variables)
            if optimizer is not None:
                optimizer.apply(grads, model.trainable_variables)
            # every gradient feeds the result, so none of the backward pass is pruned
            total += loss + tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads]) * 0
        return total

    run(tf.constant(2))  # trace and warm up
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        float(run(tf.constant(steps)))
        rates.append(steps * batch_size / (time.perf_counter() - started))
    keras.backend.clear_session()
    return max(rates)


# --cpu avx2: each row's environment (on top of ONEDNN_MAX_CPU_ISA=AVX2). TensorFlow reads
# TF_ENABLE_ONEDNN_OPTS once per process, so each row runs in a process of its own.
AVX2_ROWS = {
    "plain_fit": {"TF_ENABLE_ONEDNN_OPTS": "0"},  # TensorFlow's default on an AVX2 CPU
    "plain_fit_onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "slimtune": {},  # slimtune turns oneDNN on itself
    "slimtune_onednn_off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
}
JAX_ROW = {"plain_fit_jax": {"KERAS_BACKEND": "jax", "TF_ENABLE_ONEDNN_OPTS": "0"}}


def measure_on_avx2(config: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Every row of AVX2_ROWS (and JAX_ROW with --jax) on `config`, `args.rounds` times each,
    alternately, each measurement a process of its own (`--row`)."""
    import json
    import os
    import subprocess
    import sys
    import tempfile

    rows = AVX2_ROWS | (JAX_ROW if args.jax else {})
    rates: dict[str, list[float]] = {name: [] for name in rows}
    worst: dict[str, list[float]] = {name: [] for name in rows}
    precision, bounds = None, []
    base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    for _ in range(args.rounds):
        for name, env in rows.items():
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder) / "row.json"
                command = [
                    sys.executable,
                    __file__,
                    "--row",
                    name,
                    "--rounds",
                    "1",
                    "--config",
                    json.dumps(config.to_dict()),
                    "--out",
                    str(out),
                    *_shared_flags(args),
                ]
                if args.bound and name == "slimtune":
                    command.append("--bound")
                subprocess.run(
                    command,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    env=base | {"ONEDNN_MAX_CPU_ISA": "AVX2"} | env,
                )
                model = json.loads(out.read_text())["models"][0]
            rates[name] += model["images_per_s"][name]
            worst[name] += model["worst_case_val_accuracy"][name]
            if name == "slimtune":
                precision = model["slimtune_precision"]
                if model["compute_bound_images_per_s"]:
                    bounds.append(model["compute_bound_images_per_s"])
    from slimtune.spaces import footprint

    median = {name: statistics.median(values) for name, values in rates.items()}
    bound = round(statistics.median(bounds)) if bounds else None
    return {
        "config": config.summary(),
        "params": footprint(config, (28, 28, 1), 10).params,
        "cpu": "avx2",
        "slimtune_precision": precision,
        "compute_bound_images_per_s": bound,
        "share_of_bound": None if bound is None else round(median["slimtune"] / bound, 3),
        "breakdown": None,
        "images_per_s": {k: [round(v) for v in vs] for k, vs in rates.items()},
        "worst_case_val_accuracy": worst,
        "ratios_to_plain_fit": {
            name: round(median[name] / median["plain_fit"], 2)
            for name in rows
            if name != "plain_fit"
        },
        "ratio": median["slimtune"] / median["plain_fit"],
    }


def _shared_flags(args: argparse.Namespace) -> list[str]:
    return [
        "--train-size",
        str(args.train_size),
        "--epochs",
        str(args.epochs),
        "--seeds",
        str(args.seeds),
        "--threads",
        str(args.threads),
        "--batch-size",
        str(args.batch_size),
        "--precision",
        args.precision,
        "--augment",
        args.augment,
    ]


def measure_row(
    row: str, config: Any, train: Any, val: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """One row of `measure_on_avx2` in this process: plain `fit` or slimtune's trainer (with
    `--bound`, the compute bound too)."""
    from slimtune.search import train_seeds
    from slimtune.spaces import Recipe, footprint

    seeds = list(range(args.seeds))
    images = args.seeds * args.epochs * len(train.x)
    started = time.perf_counter()
    precision = bound = None
    if row.startswith("plain_fit"):
        worst = min(plain_fit(config, train, val, seeds, args.epochs, args.batch_size))
    else:
        recipe = Recipe(
            epochs=args.epochs,
            batch_size=args.batch_size,
            precision=args.precision,
            augment=args.augment,
        )
        outcome = train_seeds(
            config, train, val, recipe, seeds, threads=args.threads, keep_model=False
        )
        worst, precision = outcome.worst_case_val_accuracy, outcome.precision
    rate = images / (time.perf_counter() - started)
    if args.bound and precision is not None:
        bound = round(
            compute_bound(config, train.x.shape[1:], precision.split("+")[-1], args.batch_size)
        )
    return {
        "config": config.summary(),
        "params": footprint(config, train.x.shape[1:], 10).params,
        "slimtune_precision": precision,
        "compute_bound_images_per_s": bound,
        "images_per_s": {row: [rate]},
        "worst_case_val_accuracy": {row: [worst]},
    }


def measure(config: Any, train: Any, val: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Plain `fit` and slimtune's trainer on `config`, alternately, `args.rounds` times each."""
    from slimtune.search import train_seeds
    from slimtune.spaces import Recipe, footprint

    seeds = list(range(args.seeds))
    images = args.seeds * args.epochs * len(train.x)
    recipe = Recipe(
        epochs=args.epochs,
        batch_size=args.batch_size,
        precision=args.precision,
        augment=args.augment,
    )
    rates: dict[str, list[float]] = {"plain_fit": [], "slimtune": []}
    worst: dict[str, list[float]] = {"plain_fit": [], "slimtune": []}
    precision = None
    seconds: dict[int, list[float]] = {args.epochs: [], 2 * args.epochs: []}
    bounds: dict[str, list[float]] = {"bare": [], "with_optimizer": []}
    for _ in range(args.rounds):
        started = time.perf_counter()
        acc = plain_fit(config, train, val, seeds, args.epochs, args.batch_size)
        rates["plain_fit"].append(images / (time.perf_counter() - started))
        worst["plain_fit"].append(min(acc))
        started = time.perf_counter()
        outcome = train_seeds(
            config, train, val, recipe, seeds, threads=args.threads, keep_model=False
        )
        seconds[args.epochs].append(time.perf_counter() - started)
        rates["slimtune"].append(images / seconds[args.epochs][-1])
        worst["slimtune"].append(outcome.worst_case_val_accuracy)
        precision = outcome.precision
        if args.breakdown:  # twice the epochs: the difference is epochs without fixed costs
            started = time.perf_counter()
            train_seeds(
                config,
                train,
                val,
                dataclasses.replace(recipe, epochs=2 * args.epochs),
                seeds,
                threads=args.threads,
                keep_model=False,
            )
            seconds[2 * args.epochs].append(time.perf_counter() - started)
        if args.bound or args.breakdown:  # in every round, so drift hits all rates alike
            # the policy slimtune computed in (a packed model's "float32" is the same policy)
            policy = precision.split("+")[-1]
            bounds["bare"].append(compute_bound(config, train.x.shape[1:], policy, args.batch_size))
            if args.breakdown:
                bounds["with_optimizer"].append(
                    compute_bound(config, train.x.shape[1:], policy, args.batch_size, recipe=recipe)
                )
    bound = breakdown = None
    if bounds["bare"]:
        bound = round(statistics.median(bounds["bare"]))
    if args.breakdown:
        short, long = (statistics.median(seconds[e]) for e in sorted(seconds))
        breakdown = _breakdown(
            bound,
            statistics.median(bounds["with_optimizer"]),
            images / (long - short),
            statistics.median(rates["slimtune"]),
            (2 * short - long) / args.seeds,
        )
    return {
        "config": config.summary(),
        "params": footprint(config, train.x.shape[1:], 10).params,
        "slimtune_precision": precision,
        "compute_bound_images_per_s": bound,
        "share_of_bound": None
        if bound is None
        else round(statistics.median(rates["slimtune"]) / bound, 3),
        "breakdown": breakdown,
        "images_per_s": {k: [round(v) for v in vs] for k, vs in rates.items()},
        "worst_case_val_accuracy": worst,
        "ratio": statistics.median(rates["slimtune"]) / statistics.median(rates["plain_fit"]),
    }


def _breakdown(
    bound: float, with_optimizer: float, steady: float, overall: float, fixed_per_seed_s: float
) -> dict[str, float]:
    """Where slimtune's rate falls short of the bound, as shares of the bound's rate: the
    optimizer's update (bound with the optimizer), the rest of the trainer's step (gathering,
    casting and scaling each batch; its own network code; the epoch loop), measured as the
    trainer's rate in epochs beyond the first `--epochs` (no building, tracing or validation
    there), and the fixed cost of each seed (building, tracing, the final validation)."""
    return {
        "bound_images_per_s": round(bound),
        "with_optimizer_images_per_s": round(with_optimizer),
        "trainer_steady_images_per_s": round(steady),
        "trainer_images_per_s": round(overall),
        "fixed_cost_per_seed_s": round(fixed_per_seed_s, 2),
        "lost_to_optimizer": round(1 - with_optimizer / bound, 3),
        "lost_to_step_and_data": round((with_optimizer - steady) / bound, 3),
        "lost_to_fixed_costs": round((steady - overall) / bound, 3),
    }


def _print_model(model: dict[str, Any], result: dict[str, Any], args: argparse.Namespace) -> None:
    """The rows of one measured model, as this benchmark prints them."""
    print(
        f"{model['config']} ({model['params']:,} params), {result['train_images']:,} images, "
        f"{args.seeds} seeds x {args.epochs} epochs, batch {args.batch_size}, "
        f"{args.threads} thread(s), slimtune precision {model['slimtune_precision']}"
    )
    for name, rates in model["images_per_s"].items():
        print(
            f"  {name:10s} images/s {rates}  worst-case val accuracy "
            f"{[round(a, 4) for a in model['worst_case_val_accuracy'][name]]}"
        )
    print(f"  ratio (median slimtune / median plain_fit): {model['ratio']:.2f}")
    if args.cpu == "avx2":
        print(
            "  every row over plain_fit: "
            + ", ".join(
                f"{name} {ratio:.2f}" for name, ratio in model["ratios_to_plain_fit"].items()
            )
        )
    if model["compute_bound_images_per_s"]:
        print(
            f"  compute bound (bare forward+backward, {model['slimtune_precision']}): "
            f"{model['compute_bound_images_per_s']:,} images/s; slimtune at "
            f"{100 * model['share_of_bound']:.0f}% of it"
        )
    if model["breakdown"]:
        b = model["breakdown"]
        print(
            f"  short of the bound: optimizer {100 * b['lost_to_optimizer']:.0f}%, "
            f"step and data {100 * b['lost_to_step_and_data']:.0f}%, per-seed fixed cost "
            f"{100 * b['lost_to_fixed_costs']:.0f}% ({b['fixed_cost_per_seed_s']} s a seed: "
            f"building, tracing, validation); images/s with the optimizer "
            f"{b['with_optimizer_images_per_s']:,}, trainer after its first epochs "
            f"{b['trainer_steady_images_per_s']:,}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        help="a model: reference (default), light, tiny, separable-bn, a preset "
        "or JSON; repeat it to measure several in one run",
    )
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--augment", default="none", help="slimtune's recipe augments: none, shift or affine"
    )
    parser.add_argument(
        "--bound",
        action="store_true",
        help="also measure each model's compute bound (its bare forward + "
        "backward pass) and slimtune's share of it",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="--bound, and where slimtune's rate falls short of it: the "
        "optimizer, the rest of each step, each seed's fixed cost "
        "(trains every round once more with twice the epochs)",
    )
    parser.add_argument(
        "--cpu",
        choices=("native", "avx2"),
        default="native",
        help="avx2: stand in for an AVX2-only CPU, each row in its own process (module docstring)",
    )
    parser.add_argument(
        "--jax", action="store_true", help="with --cpu avx2: also plain fit on Keras' JAX backend"
    )
    parser.add_argument("--row", choices=(*AVX2_ROWS, *JAX_ROW), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.breakdown and args.cpu == "avx2":
        parser.error("--breakdown measures this CPU's own rows: leave out --cpu avx2")

    configs = [_common.load_config(text) for text in args.config or ["reference"]]
    result: dict[str, Any] = {
        "machine": _common.machine(),
        "train_images": args.train_size,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "rounds": args.rounds,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "augment": args.augment,
        "cpu": args.cpu,
        "models": [],
    }
    if args.cpu == "avx2" and not args.row:
        train = val = None  # every row loads the data in its own process
    else:
        from slimtune.search import configure_threads
        from slimtune.search import resolve_dataset as resolve

        if not args.row or not args.row.startswith("plain_fit"):
            from slimtune.search import enable_onednn

            enable_onednn()  # as slimtune's own processes do, before TensorFlow loads
        configure_threads(args.threads)
        train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
        result["train_images"] = len(train.x)
    for config in configs:
        if args.row:
            model = measure_row(args.row, config, train, val, args)
        elif args.cpu == "avx2":
            model = measure_on_avx2(config, args)
        else:
            model = measure(config, train, val, args)
        result["models"].append(model)
        _common.write_json(args.out, result)
        if args.row:
            continue
        _print_model(model, result, args)
    if args.row:
        return result
    print(
        "ratios: "
        + ", ".join(
            f"{m['config']} ({m['params']:,} params) {m['ratio']:.2f}" for m in result["models"]
        )
    )
    return result


if __name__ == "__main__":
    main()
