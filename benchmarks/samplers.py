"""Which Optuna sampler should `slimtune search` use? TPE vs NSGA-II vs random (vs GP) at an
equal number of trials, several repeats, on the default space.

    python benchmarks/samplers.py [--trials 30] [--repeats 3] [--samplers tpe,nsga2,random,gp]
        [--train-size 55000] [--epochs 5] [--seeds 3] [--floor 0.95] [--out DIR]

Every run is the search's own planner and trial loop in one process (search.run_study_in_process:
InlineExecutor, no Ray, no MLflow): the same pruning, duplicate reuse and racing as `slimtune
search`. TPE, NSGA-II and random are built exactly as the search builds them
(search.base_sampler; without --focus); GP is Optuna's GPSampler (constraints come from
trial.set_constraint, as for the others). A configuration trained once is reused by every run
(same seeds, same result), so repeats cost only new configurations. Reports per
sampler the median over repeats of the smallest feasible params and of the hypervolume; runs are
stored in DIR/samplers.json (a rerun with the same settings skips finished runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from search_efficiency import hypervolume

import _common


def make_sampler(name: str, seed: int) -> Any:
    import optuna

    from slimtune.search import SearchSettings, base_sampler

    if name == "gp":  # Optuna 5 samplers read the constraints set with trial.set_constraint
        return optuna.samplers.GPSampler(seed=seed)
    return base_sampler(SearchSettings.of(sampler=name, seed=seed))


class CachedExecutor:
    """search.InlineExecutor that reuses a configuration's earlier training across runs: a
    complete one always, a stopped one for any threshold at least as high."""

    def __init__(self, cache: dict[str, Any]) -> None:
        from slimtune.search import InlineExecutor

        self.inner = InlineExecutor()
        self.cache = cache
        self.hits: dict[Any, Any] = {}
        self.keys: dict[Any, tuple[str, float]] = {}

    def put(self, value: Any) -> Any:
        return value

    def submit(self, request: Any, train: Any, val: Any, held_out: Any = None) -> Any:
        summary = request.config.summary()
        required = request.required_accuracy or 0.0
        hit = self.cache.get(summary)
        handle = self.inner.submit(
            dataclasses.replace(request, keep_model=False), train, val, held_out
        )
        if hit and (not hit["stopped"] or hit["required"] <= required):
            self.hits[handle] = hit
        self.keys[handle] = (summary, required)
        return handle

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        cached = [h for h in handles if h in self.hits]
        return cached or self.inner.wait(handles, timeout_s)

    def result(self, handle: Any) -> Any:
        from slimtune.search import SeedsOutcome

        summary, required = self.keys.pop(handle)
        if handle in self.hits:
            self.inner.cancel(handle)
            hit = self.hits.pop(handle)
            return SeedsOutcome(
                seeds=hit["seeds"],
                val_accuracies=hit["val_accuracies"],
                test_accuracies=None,
                train_time_s=0.0,
                median_seed=hit["seeds"][0],
                stopped_reason="cached stop" if hit["stopped"] else None,
            )
        outcome = self.inner.result(handle)
        self.cache[summary] = {
            "seeds": outcome.seeds,
            "val_accuracies": outcome.val_accuracies,
            "stopped": bool(outcome.stopped_reason),
            "required": required,
            "train_s": outcome.train_time_s,
        }
        return outcome

    def cancel(self, handle: Any) -> None:
        self.hits.pop(handle, None)
        self.keys.pop(handle, None)
        self.inner.cancel(handle)


def run(
    name: str, seed: int, args: argparse.Namespace, splits: tuple[Any, Any], cache: dict[str, Any]
) -> list[dict[str, Any]]:
    """One search of `args.trials` trials with sampler `name`; every trained trial as a row."""
    import tempfile

    from optuna.trial import TrialState

    from slimtune.search import SearchSettings, run_study_in_process

    with tempfile.TemporaryDirectory() as folder:
        settings = SearchSettings.of(
            trials=args.trials,
            seeds=args.seeds,
            epochs=args.epochs,
            min_accuracy=args.floor,
            max_macs=args.max_macs,
            workers=1,
            seed=seed,
            out=folder,
            study_name=f"{name}-{seed}",
        )
        study = run_study_in_process(
            settings, *splits, sampler=make_sampler(name, seed), executor=CachedExecutor(cache)
        )
        return [
            {
                "summary": t.user_attrs["summary"],
                "params": t.user_attrs["footprint"]["params"],
                "worst_val": t.values[0] if t.state == TrialState.COMPLETE else None,
            }
            for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
            if "val_accuracies" in t.user_attrs
        ]


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

    from slimtune.search import configure_threads
    from slimtune.search import resolve_dataset as resolve

    configure_threads(1)
    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    store = args.out / "samplers.json"
    settings = {
        k: getattr(args, k)
        for k in ("trials", "train_size", "epochs", "seeds", "floor", "max_macs")
    }
    saved = json.loads(store.read_text()) if store.exists() else {}
    saved = saved if saved.get("settings") == settings else {"settings": settings}
    cache: dict[str, Any] = saved.setdefault("trained", {})
    runs: dict[str, Any] = saved.setdefault("runs", {})

    for name in args.samplers.split(","):
        for repeat in range(args.repeats):
            key = f"{name}/{repeat}"
            if key not in runs:
                runs[key] = run(name, repeat, args, (train, val), cache)
                _common.write_json(store, {**saved, "machine": _common.machine()})
                print(f"{key}: {summarise(runs[key], args.floor)}", flush=True)
    table = {}
    for name in args.samplers.split(","):
        per_run = [summarise(runs[f"{name}/{r}"], args.floor) for r in range(args.repeats)]
        smallest = [p["smallest_feasible_params"] for p in per_run]
        table[name] = {
            "median_smallest_feasible_params": statistics.median(
                s if s is not None else float("inf") for s in smallest
            ),
            "smallest_feasible_params": smallest,
            "median_hypervolume": statistics.median(p["hypervolume"] for p in per_run),
            "feasible_trials": [p["feasible"] for p in per_run],
        }
    print(
        f"{args.trials} trials x {args.repeats} repeats, floor {args.floor}, {args.seeds} seeds, "
        f"{args.epochs} epochs, {args.train_size:,} training images"
    )
    for name, row in table.items():
        print(
            f"{name:7s} smallest feasible params (median) {row['median_smallest_feasible_params']}"
            f" per repeat {row['smallest_feasible_params']}  hypervolume (median) "
            f"{row['median_hypervolume']:.4f}"
        )
    return table


def summarise(rows: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    feasible = [r["params"] for r in rows if r["worst_val"] is not None and r["worst_val"] >= floor]
    return {
        "smallest_feasible_params": min(feasible, default=None),
        "feasible": len(feasible),
        "hypervolume": hypervolume(rows),
    }


if __name__ == "__main__":
    main()
