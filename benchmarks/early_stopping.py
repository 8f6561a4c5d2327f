"""What racing + early stopping saves, and how often it stops a configuration that ends feasible.

    python benchmarks/early_stopping.py [--configs 30] [--train-size 55000] [--epochs 5]
                                        [--seeds 3] [--floor 0.95] [--out DIR]

Samples configurations from the default space (Optuna RandomSampler, fixed seed) and trains each
twice with the same seeds: fully (every seed, every epoch: the per-epoch validation curves and the
wall time) and as the search trains it (`required_accuracy` = the floor: racing + early stopping).
Then reports the seed-epochs and wall seconds saved, and the false stops: configurations whose
full worst-case validation accuracy reaches the floor but which were stopped. The full curves are
also replayed offline at other floors (search/_stopping.py is pure Python). One JSON line per
configuration is appended to DIR/early_stopping.jsonl, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import _common


def sample_configs(count: int, seed: int, max_macs: int | None = None) -> list[Any]:
    """`count` distinct buildable configurations of the default space (at most `max_macs`)."""
    import optuna

    from slimtune.spaces import footprint, load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs, seen = [], set()
    while len(configs) < count:
        config = space.suggest(study.ask())
        try:
            macs = footprint(config, (28, 28, 1), 10).macs
        except ValueError:
            continue
        if max_macs is not None and macs > max_macs:
            continue
        if config.summary() not in seen:
            seen.add(config.summary())
            configs.append(config)
    return configs


def replay(curves: list[list[float]], epochs: int, required: float) -> tuple[bool, int]:
    """(stopped, seed-epochs trained) had the search trained these full curves with racing."""
    from slimtune.search import stop_reason

    groups = [curves[:1], curves[1:]]
    trained = 0
    for group in (g for g in groups if g):
        for epoch in range(1, epochs + 1):
            trained += len(group)
            if any(stop_reason(c[:epoch], epochs, required) for c in group):
                return True, trained
    return False, trained


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=30)
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--floor", type=float, default=0.95)
    parser.add_argument("--replay-floors", default="0.9,0.95,0.98,0.99")
    parser.add_argument("--sample-seed", type=int, default=6)
    parser.add_argument("--max-macs", type=int, help="sample only configurations this cheap")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = parser.parse_args(argv)

    from slimtune.search import configure_threads, train_seeds
    from slimtune.search import resolve_dataset as resolve
    from slimtune.spaces import Recipe, footprint

    configure_threads(1)
    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    recipe = Recipe(epochs=args.epochs)
    seeds = list(range(args.seeds))
    log = args.out / "early_stopping.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    done = {
        json.loads(line)["summary"]: json.loads(line)
        for line in (log.read_text().splitlines() if log.exists() else [])
        if line.strip()
    }
    rows = []
    for config in sample_configs(args.configs, args.sample_seed, args.max_macs):
        key = config.summary()
        if key in done and done[key]["args"] == _key_args(args):
            rows.append(done[key])
            continue
        started = time.perf_counter()
        full = train_seeds(config, train, val, recipe, seeds, keep_model=False, curves=True)
        full_s = time.perf_counter() - started
        started = time.perf_counter()
        raced = train_seeds(
            config, train, val, recipe, seeds, keep_model=False, required_accuracy=args.floor
        )
        raced_s = time.perf_counter() - started
        row = {
            "summary": key,
            "params": footprint(config, (28, 28, 1), 10).params,
            "args": _key_args(args),
            "full_curves": full.val_curves,
            "full_s": full_s,
            "full_worst": full.worst_case_val_accuracy,
            "raced_s": raced_s,
            "raced_epochs": raced.epochs_run,
            "raced_stopped": raced.stopped_reason,
        }
        with log.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        rows.append(row)
        print(
            f"{key}: full worst {row['full_worst']:.4f} in {full_s:.1f}s; raced "
            f"{raced.epochs_run} seed-epochs in {raced_s:.1f}s, "
            f"{'stopped' if raced.stopped_reason else 'complete'}",
            flush=True,
        )
    summary = summarise(rows, args)
    _common.write_json(args.out / "early_stopping.json", {"machine": _common.machine(), **summary})
    print(json.dumps(summary, indent=2))
    return summary


def _key_args(args: argparse.Namespace) -> dict[str, Any]:
    from slimtune.search import RULE_VERSION

    return {
        "train_size": args.train_size,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "floor": args.floor,
        "max_macs": args.max_macs,
        "rule": RULE_VERSION,
    }


def summarise(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    full_epochs = args.seeds * args.epochs * len(rows)
    measured = {
        "floor": args.floor,
        "configs": len(rows),
        "feasible_full": sum(r["full_worst"] >= args.floor for r in rows),
        "stopped": sum(bool(r["raced_stopped"]) for r in rows),
        "false_stops": sum(
            bool(r["raced_stopped"]) and r["full_worst"] >= args.floor for r in rows
        ),
        "seed_epochs_full": full_epochs,
        "seed_epochs_raced": sum(r["raced_epochs"] for r in rows),
        "wall_s_full": round(sum(r["full_s"] for r in rows), 1),
        "wall_s_raced": round(sum(r["raced_s"] for r in rows), 1),
    }
    measured["wall_saved_share"] = round(1 - measured["wall_s_raced"] / measured["wall_s_full"], 3)
    replayed = {}
    for floor in (float(f) for f in args.replay_floors.split(",")):
        outcomes = [replay(r["full_curves"], args.epochs, floor) for r in rows]
        replayed[str(floor)] = {
            "feasible": sum(r["full_worst"] >= floor for r in rows),
            "stopped": sum(s for s, _ in outcomes),
            "false_stops": sum(
                s and r["full_worst"] >= floor for (s, _), r in zip(outcomes, rows, strict=False)
            ),
            "seed_epochs_saved_share": round(1 - sum(e for _, e in outcomes) / full_epochs, 3),
        }
    return {"measured": measured, "replayed": replayed}


if __name__ == "__main__":
    main()
