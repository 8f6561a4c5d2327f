"""The two fidelities of `--strategy smallest`: each small configuration trained with the
search's epochs and with the full recipe's, the same seeds, data and thread, in one run.

    python benchmarks/fidelity.py [--configs JSON;JSON;...] [--seeds 3] [--epochs 5]
        [--full-epochs 20] [--train-size 50000] [--threads 1] [--out DIR]

What it measures is what promotion (search/training/_stopping.py, PROMOTION_ERROR_RATIO) and the
default --full-epochs (search/_settings.py, FULL_EPOCHS_FACTOR) rest on: how much the worst seed
of a model near the floor gains from the longer recipe, as accuracies and as the ratio of the
errors (full / short; below 1 means the longer recipe helped). Default configurations: five
models of 446-590 params built from the default space's blocks. Validation = the last 5,000
training-file images; the 5,000 before them are held out, as the search holds out its recheck
split. Prints one line per configuration and recipe, then per configuration the error ratio of
the worst seed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import _common


def _block(kernel: int, filters: int, pool: int = 1, **more: object) -> dict:
    return {"kernel_size": kernel, "filters": filters, "pool": pool, **more}


DEFAULT_CONFIGS = [
    {"blocks": [_block(3, 2, 2), _block(3, 4, 4, padding="valid")], "head": "flatten"},
    {"blocks": [_block(3, 4, 4), _block(3, 8, 2, padding="valid", separable=True)],
     "head": "flatten"},
    {"blocks": [_block(5, 4, 4), _block(3, 8, 2, padding="valid", separable=True)],
     "head": "flatten"},
    {"blocks": [_block(3, 4, 2), _block(3, 8, 2, separable=True),
                _block(3, 16, separable=True)], "head": "gap"},
    {"blocks": [_block(3, 4, 2), _block(3, 8, 2, separable=True),
                _block(3, 8, 2, padding="valid", separable=True)], "head": "flatten"},
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=";".join(json.dumps(c) for c in DEFAULT_CONFIGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--full-epochs", type=int, default=20)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/fidelity"))
    args = parser.parse_args(argv)

    from search import resolve_dataset, search_seeds, train_seeds
    from spaces import CNNConfig, Recipe, footprint

    train, val = resolve_dataset("mnist", _common.data_dir()).train_val(
        5000, args.train_size, holdout=5000)
    shape, classes = tuple(train.x.shape[1:]), int(train.y.max()) + 1
    rows = []
    for text in args.configs.split(";"):
        config = CNNConfig.from_dict(json.loads(text))
        params = footprint(config, shape, classes).params
        for epochs in (args.epochs, args.full_epochs):
            started = time.perf_counter()
            outcome = train_seeds(config, train, val, Recipe(epochs=epochs),
                                  search_seeds(0, args.seeds), threads=args.threads,
                                  keep_model=False)
            rows.append({"config": config.summary(), "params": params, "epochs": epochs,
                         "val_accuracies": outcome.val_accuracies,
                         "worst_val": min(outcome.val_accuracies),
                         "median_val": statistics.median(outcome.val_accuracies),
                         "wall_s": round(time.perf_counter() - started, 1)})
            row = rows[-1]
            print(f"{row['config']:36s} {params:6,d} params  {epochs:3d} epochs: worst val "
                  f"{row['worst_val']:.4f}  median {row['median_val']:.4f}  "
                  f"{row['wall_s']:.1f}s", flush=True)
    for short, full in zip(rows[::2], rows[1::2]):
        full["worst_error_ratio"] = round((1 - full["worst_val"]) / (1 - short["worst_val"]), 3)
    result = {"machine": _common.machine(), "seeds": args.seeds, "epochs": args.epochs,
              "full_epochs": args.full_epochs, "train_size": len(train.x), "rows": rows}
    _common.write_json(args.out / "fidelity.json", result)
    for short, full in zip(rows[::2], rows[1::2]):
        print(f"{short['config']:36s} worst val {short['worst_val']:.4f} -> "
              f"{full['worst_val']:.4f}, error ratio {full['worst_error_ratio']:.2f}, "
              f"time {full['wall_s'] / short['wall_s']:.2f}x")
    return result


if __name__ == "__main__":
    main()
