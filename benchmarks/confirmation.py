"""Confirmation's fresh seeds: one Ray task per seed (the layout before seeds were packed) vs one
task per worker, each training its group of seeds packed in one pass (`search.training.
seed_groups`, what `slimtune search` does now). Same configuration, data, seeds and recipe, on the
same local Ray (2 workers of one thread each by default), the two layouts alternating.

    python benchmarks/confirmation.py [--config tiny|separable-bn|reference|PRESET|JSON ...]
        [--train-size 55000] [--epochs 3] [--seeds 5] [--workers 2] [--rounds 2]

For each model: the wall seconds of each layout per round (submission to the last result, model
saving and transfer included), the worst-case validation accuracy of each, and the ratio of the
medians (per-seed / packed: > 1 means packing is faster); the last line lists every ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)


def confirm_once(
    executor: Any, config: Any, refs: tuple[Any, Any], recipe: Any, groups: list[list[int]]
) -> tuple[float, float]:
    """(wall seconds, worst validation accuracy) of training every group as one task each."""
    started = time.perf_counter()
    from slimtune.search.training import TrainingRequest

    handles = [
        executor.submit(
            TrainingRequest(config, recipe, tuple(group), every_model=True, kind="confirm"),
            refs[0],
            refs[1],
            refs[1],
        )
        for group in groups
    ]
    outcomes = [executor.result(handle) for handle in handles]
    wall = time.perf_counter() - started
    return wall, min(acc for outcome in outcomes for acc in outcome.val_accuracies)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        help="a model: tiny (default), light, separable-bn, reference, a preset "
        "or JSON; repeat it to measure several in one run",
    )
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from slimtune.search import resolve_dataset as resolve
    from slimtune.search.execution import RayExecutor
    from slimtune.search.training import confirmation_seeds, seed_groups
    from slimtune.spaces import Recipe, footprint

    configs = [_common.load_config(text) for text in args.config or ["tiny"]]
    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    recipe = Recipe(epochs=args.epochs)
    seeds = confirmation_seeds(0, args.seeds)
    layouts = {"per_seed": [[seed] for seed in seeds], "packed": seed_groups(seeds, args.workers)}
    result: dict[str, Any] = {
        "machine": _common.machine(),
        "train_images": len(train.x),
        "epochs": args.epochs,
        "seeds": seeds,
        "workers": args.workers,
        "rounds": args.rounds,
        "layouts": layouts,
        "models": [],
    }
    with RayExecutor(None, args.workers, 1, 0) as executor:
        refs = (executor.put(train), executor.put(val))
        # Warm-up, not measured: the first task of each worker imports TensorFlow.
        confirm_once(executor, configs[0], refs, Recipe(epochs=1), layouts["per_seed"])
        for config in configs:
            walls: dict[str, list[float]] = {name: [] for name in layouts}
            worst: dict[str, list[float]] = {name: [] for name in layouts}
            for _ in range(args.rounds):
                for name, groups in layouts.items():
                    wall, accuracy = confirm_once(executor, config, refs, recipe, groups)
                    walls[name].append(round(wall, 1))
                    worst[name].append(round(accuracy, 4))
            model = {
                "config": config.summary(),
                "params": footprint(config, train.x.shape[1:], 10).params,
                "wall_s": walls,
                "worst_case_val_accuracy": worst,
                "ratio": statistics.median(walls["per_seed"]) / statistics.median(walls["packed"]),
            }
            result["models"].append(model)
            _common.write_json(args.out, result)
            print(
                f"{model['config']} ({model['params']:,} params), {len(train.x):,} images, "
                f"{len(seeds)} seeds x {args.epochs} epochs on {args.workers} workers"
            )
            for name in layouts:
                print(
                    f"  {name:9s} {layouts[name]}: wall s {walls[name]}  worst-case val "
                    f"accuracy {worst[name]}"
                )
            print(f"  ratio (median per_seed / median packed): {model['ratio']:.2f}")
    print(
        "ratios: "
        + ", ".join(
            f"{m['config']} ({m['params']:,} params) {m['ratio']:.2f}" for m in result["models"]
        )
    )
    return result


if __name__ == "__main__":
    main()
