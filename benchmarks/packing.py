"""When packing seeds pays: a model's seeds trained packed into one network (search/training/
_packed.py) vs one after another, same seeds, data and recipe, alternating in one process. The
trainer packs only models under `PACKED_MAX_MACS` multiply-accumulates per image; this measures
both ways for any model, whatever the rule would choose.

    python benchmarks/packing.py [--config tiny|separable-bn|reference|light|PRESET|JSON ...]
        [--train-size 55000] [--epochs 1] [--seeds 3] [--rounds 2] [--precision auto|float32]

For each model: its MACs per image, the wall seconds of each way per round (model building and
graph tracing included), the precision each computed in, and the ratio one-at-a-time / packed
(> 1: packing is faster); the last line lists every ratio and the rule's choice.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import _common


def timed(train: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    outcome = train(*args, **kwargs)
    return time.perf_counter() - started, outcome


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        help="a model: tiny (default), separable-bn, reference, light, a preset or "
        "JSON; repeat it to measure several in one run",
    )
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from slimtune.search import configure_threads
    from slimtune.search import resolve_dataset as resolve
    from slimtune.search.training import packs_seeds, train_seeds
    from slimtune.spaces import Recipe, footprint

    configure_threads(1)
    configs = [_common.load_config(text) for text in args.config or ["tiny"]]
    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    recipe = Recipe(epochs=args.epochs, precision=args.precision)
    seeds = list(range(1, args.seeds + 1))

    def packed(config: Any) -> Any:
        return train_seeds(config, train, val, recipe, seeds, keep_model=False, pack=True)

    def one_at_a_time(config: Any) -> Any:
        return train_seeds(config, train, val, recipe, seeds, keep_model=False, pack=False)

    result: dict[str, Any] = {
        "machine": _common.machine(),
        "train_images": len(train.x),
        "epochs": args.epochs,
        "seeds": seeds,
        "rounds": args.rounds,
        "precision": args.precision,
        "models": [],
    }
    for config in configs:
        shape = footprint(config, train.x.shape[1:], 10)
        walls: dict[str, list[float]] = {"packed": [], "one_at_a_time": []}
        precisions = {}
        for _ in range(args.rounds):
            for name, way in (("packed", packed), ("one_at_a_time", one_at_a_time)):
                wall, outcome = timed(way, config)
                walls[name].append(round(wall, 2))
                precisions[name] = outcome.precision
        model = {
            "config": config.summary(),
            "params": shape.params,
            "macs": shape.macs,
            "wall_s": walls,
            "precision": precisions,
            "rule_packs": packs_seeds(config, train.x.shape[1:], 10),
            "ratio": statistics.median(walls["one_at_a_time"]) / statistics.median(walls["packed"]),
        }
        result["models"].append(model)
        _common.write_json(args.out, result)
        print(
            f"{model['config']} ({model['params']:,} params, {model['macs']:,} MACs/image), "
            f"{len(train.x):,} images, {len(seeds)} seeds x {args.epochs} epochs"
        )
        for name, times in walls.items():
            print(f"  {name:13s} wall s {times}  precision {precisions[name]}")
        print(
            f"  ratio (median one_at_a_time / median packed): {model['ratio']:.2f}; the rule "
            f"{'packs' if model['rule_packs'] else 'trains one at a time'}"
        )
    print(
        "ratios: "
        + ", ".join(
            f"{m['config']} ({m['macs']:,} MACs) {m['ratio']:.2f}" for m in result["models"]
        )
    )
    return result


if __name__ == "__main__":
    main()
