"""The two fidelities of `--strategy smallest`: each small configuration trained with the
search's epochs and with the full recipe's, the same seeds, data and thread, in one run.

    python benchmarks/fidelity.py [--configs JSON;JSON;... | --random N [--random-seed S]
        [--max-params 2000] | --from-study STORAGE --study-name NAME [--stopped-above 0.85]
        [--limit 8]] [--floor 0.95] [--seeds 3] [--epochs 5] [--full-epochs 20]
        [--train-size 50000] [--threads 1] [--out DIR]

What it measures is what promotion (search/training/_stopping.py, PROMOTION_ERROR_RATIO) and the
default --full-epochs (search/_settings.py, FULL_EPOCHS_FACTOR) rest on: how much the worst seed
of a model near the floor gains from the longer recipe, as accuracies and as the ratio of the
errors (full / short; below 1 means the longer recipe helped). Default configurations: five
models of 446-590 params built from the default space's blocks; `--random N` draws N buildable
configurations of at most --max-params params uniformly from the default space instead (seeded);
`--from-study` takes the configurations a search stopped without promoting them whose worst seed
was at least --stopped-above (the closest misses first, at most --limit): the false-stop check.
Against --floor (plus the search's validation margin) each configuration is classed as the
search would treat it: held at the search's epochs, promoted (a miss within
PROMOTION_ERROR_RATIO of the allowed error) or stopped; a stopped one that holds at the full
epochs is a false stop of the promotion rule. Validation = the last 5,000
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
    {
        "blocks": [_block(3, 4, 4), _block(3, 8, 2, padding="valid", separable=True)],
        "head": "flatten",
    },
    {
        "blocks": [_block(5, 4, 4), _block(3, 8, 2, padding="valid", separable=True)],
        "head": "flatten",
    },
    {
        "blocks": [_block(3, 4, 2), _block(3, 8, 2, separable=True), _block(3, 16, separable=True)],
        "head": "gap",
    },
    {
        "blocks": [
            _block(3, 4, 2),
            _block(3, 8, 2, separable=True),
            _block(3, 8, 2, padding="valid", separable=True),
        ],
        "head": "flatten",
    },
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=";".join(json.dumps(c) for c in DEFAULT_CONFIGS))
    parser.add_argument("--random", type=int, default=0)
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--max-params", type=int, default=2000)
    parser.add_argument("--from-study")
    parser.add_argument("--study-name", default="efficiency")
    parser.add_argument("--stopped-above", type=float, default=0.85)
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--floor", type=float, default=0.95)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--full-epochs", type=int, default=20)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/fidelity"))
    args = parser.parse_args(argv)

    from slimtune.search import SearchSettings, resolve_dataset, search_seeds, train_seeds
    from slimtune.search.training import promotion_accuracy
    from slimtune.spaces import CNNConfig, Recipe, footprint

    train, val = resolve_dataset("mnist", _common.data_dir()).train_val(
        5000, args.train_size, holdout=5000
    )
    shape, classes = tuple(train.x.shape[1:]), int(train.y.max()) + 1
    required = SearchSettings.of(min_accuracy=args.floor).selection.floor_on(len(val.x))
    promote_at = promotion_accuracy(required)
    if args.from_study:
        configs = stopped_configs(
            args.from_study, args.study_name, args.stopped_above, promote_at, args.limit
        )
    elif args.random:
        configs = random_configs(args.random, args.random_seed, args.max_params, shape, classes)
    else:
        configs = [CNNConfig.from_dict(json.loads(t)) for t in args.configs.split(";")]
    rows = []
    for config in configs:
        params = footprint(config, shape, classes).params
        for epochs in (args.epochs, args.full_epochs):
            started = time.perf_counter()
            outcome = train_seeds(
                config,
                train,
                val,
                Recipe(epochs=epochs),
                search_seeds(0, args.seeds),
                threads=args.threads,
                keep_model=False,
            )
            rows.append(
                {
                    "config": config.summary(),
                    "params": params,
                    "epochs": epochs,
                    "val_accuracies": outcome.val_accuracies,
                    "worst_val": min(outcome.val_accuracies),
                    "median_val": statistics.median(outcome.val_accuracies),
                    "wall_s": round(time.perf_counter() - started, 1),
                }
            )
            row = rows[-1]
            print(
                f"{row['config']:36s} {params:6,d} params  {epochs:3d} epochs: worst val "
                f"{row['worst_val']:.4f}  median {row['median_val']:.4f}  "
                f"{row['wall_s']:.1f}s",
                flush=True,
            )
    for short, full in zip(rows[::2], rows[1::2], strict=False):
        full["worst_error_ratio"] = round((1 - full["worst_val"]) / (1 - short["worst_val"]), 3)
        full["search_verdict"] = (
            "held"
            if short["worst_val"] >= required
            else "promoted"
            if short["worst_val"] >= promote_at
            else "stopped"
        )
        full["holds_at_full"] = full["worst_val"] >= required
    result = {
        "machine": _common.machine(),
        "seeds": args.seeds,
        "epochs": args.epochs,
        "full_epochs": args.full_epochs,
        "train_size": len(train.x),
        "floor": args.floor,
        "required": round(required, 6),
        "promotion_accuracy": round(promote_at, 6),
        "rows": rows,
    }
    _common.write_json(args.out / "fidelity.json", result)
    for short, full in zip(rows[::2], rows[1::2], strict=False):
        print(
            f"{short['config']:36s} worst val {short['worst_val']:.4f} -> "
            f"{full['worst_val']:.4f}, error ratio {full['worst_error_ratio']:.2f}, "
            f"time {full['wall_s'] / short['wall_s']:.2f}x; {full['search_verdict']}, "
            f"{'holds' if full['holds_at_full'] else 'misses'} at {args.full_epochs} epochs"
        )
    fulls = rows[1::2]
    false_stops = sum(r["search_verdict"] == "stopped" and r["holds_at_full"] for r in fulls)
    print(
        f"required {required:.4f}, promoted from {promote_at:.4f}: "
        + ", ".join(
            f"{v} {sum(r['search_verdict'] == v for r in fulls)}"
            for v in ("held", "promoted", "stopped")
        )
        + f"; false stops {false_stops}"
    )
    return result


def stopped_configs(storage: str, study_name: str, above: float, below: float, limit: int) -> list:
    """Configurations the study stopped early without promoting them, whose worst trained seed
    was in [above, below): the closest misses first, at most `limit`."""
    import optuna

    from slimtune.spaces import CNNConfig

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage)
    misses = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)):
        attrs = trial.user_attrs
        if (
            not str(attrs.get("prune_reason", "")).startswith("stopped early")
            or attrs.get("screen_val_accuracies")
            or not attrs.get("val_accuracies")
        ):
            continue
        worst = min(attrs["val_accuracies"])
        if above <= worst < below:
            misses[attrs["summary"]] = (worst, CNNConfig.from_dict(attrs["config"]))
    closest = sorted(misses.values(), key=lambda miss: -miss[0])[:limit]
    return [config for _, config in closest]


def random_configs(count: int, seed: int, max_params: int, shape: tuple, classes: int) -> list:
    """`count` buildable configurations of at most `max_params` params, drawn uniformly from the
    default space (Optuna's RandomSampler, seeded)."""
    import optuna

    from slimtune.spaces import footprint, load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    found: dict[str, object] = {}
    while len(found) < count:
        config = space.suggest(study.ask())
        try:
            if footprint(config, shape, classes).params <= max_params:
                found.setdefault(config.summary(), config)
        except ValueError:
            continue  # cannot be built
    return list(found.values())


if __name__ == "__main__":
    main()
