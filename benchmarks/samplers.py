"""Which Optuna sampler should `slimtune search` use? TPE vs NSGA-II vs random (vs GP) at an
equal number of trials, several repeats, on the default space.

    python benchmarks/samplers.py [--trials 30] [--repeats 3] [--samplers tpe,nsga2,random,gp]
        [--train-size 55000] [--epochs 5] [--seeds 3] [--floor 0.95] [--out DIR]

Every run is the search's trial loop in one process (no Ray): ask, build the configuration,
prune it if it cannot be built, race seeds with early stopping at the floor / front threshold,
tell worst-case validation accuracy and params. TPE, NSGA-II and random are built exactly as
`slimtune search` builds them (search._study._sampler; without --focus); GP is Optuna's
GPSampler (constraints come from trial.set_constraint, as for the others). A configuration trained once is reused by
every run (same seeds, same result), so repeats cost only new configurations. Reports per
sampler the median over repeats of the smallest feasible params and of the hypervolume; runs are
stored in DIR/samplers.json (a rerun with the same settings skips finished runs).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import _common
from search_efficiency import hypervolume


def make_sampler(name: str, seed: int) -> Any:
    import optuna

    from search._settings import SearchSettings
    from search._study import _sampler

    if name == "gp":  # Optuna 5 samplers read the constraints set with trial.set_constraint
        return optuna.samplers.GPSampler(seed=seed)
    return _sampler(SearchSettings(sampler=name, seed=seed))


def run(name: str, seed: int, args: argparse.Namespace, train_one: Any) -> list[dict[str, Any]]:
    import optuna
    from optuna.trial import TrialState

    from search._stopping import required_accuracy
    from spaces import footprint, load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space()
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=make_sampler(name, seed))
    rows: list[dict[str, Any]] = []
    for _ in range(args.trials):
        trial = study.ask()
        config = space.suggest(trial)
        try:
            fp = footprint(config, (28, 28, 1), 10)
        except ValueError:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        params = fp.params
        if args.max_macs is not None and fp.macs > args.max_macs:  # as --max-macs prunes
            trial.set_constraint("max_macs", fp.macs - args.max_macs)
            study.tell(trial, state=TrialState.PRUNED)
            continue
        completed = [(r["params"], r["worst_val"]) for r in rows if r["worst_val"] is not None]
        outcome = train_one(config, required_accuracy(args.floor, params, completed))
        worst = min(outcome["val_accuracies"])
        gap = args.floor - worst
        trial.set_constraint("accuracy_floor", gap)
        if outcome["stopped"]:
            study.tell(trial, state=TrialState.PRUNED)
            rows.append({"summary": config.summary(), "params": params, "worst_val": None})
        else:
            study.tell(trial, [worst, params])
            rows.append({"summary": config.summary(), "params": params, "worst_val": worst})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samplers", default="tpe,nsga2,random,gp")
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--floor", type=float, default=0.95)
    parser.add_argument("--max-macs", type=int, help="prune costlier configurations untrained")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = parser.parse_args(argv)

    from search._data import resolve
    from search._trainer import Recipe, configure_threads, train_seeds

    configure_threads(1)
    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    store = args.out / "samplers.json"
    settings = {k: getattr(args, k) for k in ("trials", "train_size", "epochs", "seeds", "floor",
                                              "max_macs")}
    saved = json.loads(store.read_text()) if store.exists() else {}
    saved = saved if saved.get("settings") == settings else {"settings": settings}
    cache: dict[str, Any] = saved.setdefault("trained", {})
    runs: dict[str, Any] = saved.setdefault("runs", {})

    def train_one(config: Any, required: float) -> dict[str, Any]:
        """Train (or reuse) a configuration; a cached stop holds for any higher threshold."""
        hit = cache.get(config.summary())
        if hit and (not hit["stopped"] or hit["required"] <= required):
            return hit
        outcome = train_seeds(config, train, val, Recipe(epochs=args.epochs),
                              list(range(args.seeds)), keep_model=False,
                              required_accuracy=required)
        cache[config.summary()] = {"val_accuracies": outcome.val_accuracies,
                                   "stopped": bool(outcome.stopped_reason),
                                   "required": required, "train_s": outcome.train_time_s}
        return cache[config.summary()]

    for name in args.samplers.split(","):
        for repeat in range(args.repeats):
            key = f"{name}/{repeat}"
            if key not in runs:
                runs[key] = run(name, repeat, args, train_one)
                _common.write_json(store, {**saved, "machine": _common.machine()})
                print(f"{key}: {summarise(runs[key], args.floor)}", flush=True)
    table = {}
    for name in args.samplers.split(","):
        per_run = [summarise(runs[f"{name}/{r}"], args.floor) for r in range(args.repeats)]
        smallest = [p["smallest_feasible_params"] for p in per_run]
        table[name] = {"median_smallest_feasible_params": statistics.median(
            s if s is not None else float("inf") for s in smallest),
            "smallest_feasible_params": smallest,
            "median_hypervolume": statistics.median(p["hypervolume"] for p in per_run),
            "feasible_trials": [p["feasible"] for p in per_run]}
    print(f"{args.trials} trials x {args.repeats} repeats, floor {args.floor}, {args.seeds} seeds, "
          f"{args.epochs} epochs, {args.train_size:,} training images")
    for name, row in table.items():
        print(f"{name:7s} smallest feasible params (median) {row['median_smallest_feasible_params']}"
              f" per repeat {row['smallest_feasible_params']}  hypervolume (median) "
              f"{row['median_hypervolume']:.4f}")
    return table


def summarise(rows: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    feasible = [r["params"] for r in rows if r["worst_val"] is not None and r["worst_val"] >= floor]
    return {"smallest_feasible_params": min(feasible, default=None), "feasible": len(feasible),
            "hypervolume": hypervolume(rows)}


if __name__ == "__main__":
    main()
