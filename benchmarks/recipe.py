"""The training recipe and the blocks for small models: each configuration trained with
slimtune's trainer under two recipes, the same seeds, data and threads, in one run.

    python benchmarks/recipe.py [--configs JSON;JSON;...] [--recipes old,new] [--seeds 3]
        [--epochs 5] [--train-size 50000] [--threads 1] [--out DIR]

Recipes (`--recipes`, compared with the first named): "old" (Adam 1e-3 constant, the first
default), "new" (Adam 1e-2 peak, cosine decay to 0: today's default), and "new+shift" /
"new+affine" (today's default with on-the-fly augmentation, `Recipe.augment`). Default
configurations: the 748-param c3x3-p2|c3x6v-p4|flatten plain and with BatchNorm, and with its
second block separable (631 params). Validation = the last 5,000 training-file images; the
5,000 before them are held out as the search holds out its recheck split. Prints per
configuration and recipe: the worst-case and median validation accuracy over the seeds and the
wall time, then each recipe against the first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import _common

DEFAULT_CONFIGS = [
    {
        "blocks": [
            {"kernel_size": 3, "filters": 3, "pool": 2},
            {"kernel_size": 3, "filters": 6, "pool": 4, "padding": "valid"},
        ],
        "head": "flatten",
    },
    {
        "blocks": [
            {"kernel_size": 3, "filters": 3, "pool": 2},
            {"kernel_size": 3, "filters": 6, "pool": 4, "padding": "valid"},
        ],
        "head": "flatten",
        "batch_norm": True,
    },
    {
        "blocks": [
            {"kernel_size": 3, "filters": 3, "pool": 2},
            {"kernel_size": 3, "filters": 6, "pool": 4, "padding": "valid", "separable": True},
        ],
        "head": "flatten",
    },
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=";".join(json.dumps(c) for c in DEFAULT_CONFIGS))
    parser.add_argument("--recipes", default="old,new")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/recipe"))
    args = parser.parse_args(argv)

    from slimtune.search import resolve_dataset, search_seeds, train_seeds
    from slimtune.spaces import CNNConfig, Recipe, footprint

    train, val = resolve_dataset("mnist", _common.data_dir()).train_val(
        5000, args.train_size, holdout=5000
    )
    known = {
        "old": Recipe(epochs=args.epochs, learning_rate=1e-3, schedule="constant"),
        "new": Recipe(epochs=args.epochs, learning_rate=1e-2, schedule="cosine"),
        "new+shift": Recipe(epochs=args.epochs, augment="shift"),
        "new+affine": Recipe(epochs=args.epochs, augment="affine"),
    }
    recipes = {name: known[name] for name in args.recipes.split(",")}
    rows = []
    for text in args.configs.split(";"):
        config = CNNConfig.from_dict(json.loads(text))
        params = footprint(config, (28, 28, 1), 10).params
        for name, recipe in recipes.items():
            started = time.perf_counter()
            outcome = train_seeds(
                config,
                train,
                val,
                recipe,
                search_seeds(0, args.seeds),
                threads=args.threads,
                keep_model=False,
            )
            rows.append(
                {
                    "config": config.summary(),
                    "params": params,
                    "recipe": name,
                    "val_accuracies": outcome.val_accuracies,
                    "worst_val": min(outcome.val_accuracies),
                    "median_val": statistics.median(outcome.val_accuracies),
                    "wall_s": round(time.perf_counter() - started, 1),
                }
            )
            row = rows[-1]
            print(
                f"{row['config']:32s} {params:6,d} params  {name}: worst val "
                f"{row['worst_val']:.4f}  median {row['median_val']:.4f}  "
                f"{row['wall_s']:.1f}s",
                flush=True,
            )
    result = {
        "machine": _common.machine(),
        "seeds": args.seeds,
        "epochs": args.epochs,
        "train_size": len(train.x),
        "rows": rows,
    }
    _common.write_json(args.out / "recipe.json", result)
    names = list(recipes)
    for i in range(0, len(rows), len(names)):
        base = rows[i]
        for other in rows[i + 1 : i + len(names)]:
            print(
                f"{base['config']:32s} {other['recipe']}/{base['recipe']} time "
                f"{other['wall_s'] / base['wall_s']:.2f}x, worst val "
                f"{base['worst_val']:.4f} -> {other['worst_val']:.4f}"
            )
    return result


if __name__ == "__main__":
    main()
