"""How a Ray worker's memory grows over a search: many trials trained in one process, as a worker
trains them, with its resident set size after each.

    python benchmarks/worker_memory.py [--trials 40] [--train-size 50000] [--epochs 1]
        [--seeds 3] [--max-params 3000] [--random-seed 0] [--out FILE.json]

Draws --trials buildable configurations of at most --max-params params from the default space
(seeded, as `benchmarks/fidelity.py --random`), trains each with `train_seeds` (racing against
the floor 0.95, one thread) one after another in this process, and prints the RSS after each.
The last line gives the growth per trial over the second half of the run (a straight-line fit;
the first half includes TensorFlow's own warm-up) beside the size of the training split, which is
what a trial that left its resident copy behind would add. A worker is replaced by Ray after
`WORKER_MAX_TRAININGS` trainings (search/execution/_ray.py), which bounds what is left.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from fidelity import random_configs

import _common


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-params", type=int, default=3000)
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    machine = _common.machine()

    from slimtune.search import resolve_dataset, search_seeds, train_seeds
    from slimtune.spaces import Recipe

    train, val = resolve_dataset("mnist", _common.data_dir()).train_val(
        5000, args.train_size, holdout=5000
    )
    shape, classes = tuple(train.x.shape[1:]), int(train.y.max()) + 1
    split_mb = (train.x.nbytes + train.y.nbytes) / 2**20
    rows = []
    for index, config in enumerate(
        random_configs(args.trials, args.random_seed, args.max_params, shape, classes)
    ):
        started = time.perf_counter()
        train_seeds(
            config,
            train,
            val,
            Recipe(epochs=args.epochs),
            search_seeds(0, args.seeds),
            threads=1,
            required_accuracy=0.95,
        )
        rows.append(
            {
                "config": config.summary(),
                "rss_mb": rss_mb(),
                "seconds": time.perf_counter() - started,
            }
        )
        print(
            f"{index:3d} {config.summary():44s} rss {rows[-1]['rss_mb']:7.0f} MB  "
            f"{rows[-1]['seconds']:5.1f} s",
            flush=True,
        )
    half = rows[len(rows) // 2 :]
    growth = (
        statistics.linear_regression(range(len(half)), [r["rss_mb"] for r in half]).slope
        if len(half) >= 2
        else float("nan")
    )
    result = {
        "machine": machine,
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
        "growth_mb_per_trial": growth,
        "training_split_mb": split_mb,
    }
    _common.write_json(args.out, result)
    print(
        f"growth {growth:.1f} MB per trial over the last {len(half)} trials; the training split "
        f"is {split_mb:.1f} MB; RSS {rows[0]['rss_mb']:.0f} -> {rows[-1]['rss_mb']:.0f} MB"
    )
    return result


if __name__ == "__main__":
    main()
