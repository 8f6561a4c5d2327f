"""slimtune vs Keras Tuner (Bayesian optimisation) vs random search at the same wall budget.

    python benchmarks/search_efficiency.py [--budget-min 20] [--floor 0.95] [--seeds 3]
        [--epochs 5] [--train-size 55000] [--engines slimtune,keras-tuner,random]
        [--confirm-candidates 3] [--focus] [--out DIR]

Same default space (spaces/default.toml), same train/validation split, `--budget-min` minutes of
wall clock per engine, engines run one after another. slimtune is `slimtune search` with its
defaults (TPE, fast trainer, racing + early stopping), plus `--focus` if given (use another
--out for it: the engine folder is reused). Keras Tuner's BayesianOptimization and
RandomSearch train each trial as Keras Tuner does (plain `model.fit` per seed) and maximise one
score that folds in what Keras Tuner cannot express as constraints: infeasible trials score their
worst-case validation accuracy (< floor); feasible ones score 2 - log10(params) / 10, so smaller
is better. Each engine runs in a child process stopped by SIGTERM when its budget is spent; its
trials are on disk as they finish (slimtune: its Optuna study; Keras Tuner: its project folder and
DIR/<engine>/trials.jsonl), and a rerun spends only the budget left. Afterwards every engine's
feasible-on-validation configurations are confirmed smallest first with fresh seeds on the test
split (outside the budget, same trainer for all). Only trials that finished within
`--budget-min` count, so an engine run longer can be read again at a shorter budget. Reported
last per engine: the pick, its params, worst-case test accuracy, when it was first found, the
trials run, and the hypervolume of (log10 params, worst-case validation accuracy) over all trials
and over those above the floor.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common

ENGINES = ("slimtune", "keras-tuner", "random")
HV_REFERENCE = (7.0, 0.0)  # log10(params) to minimise, worst-case accuracy to maximise


# --- the engines (run in a child process) ------------------------------------------------------
def kt_config(hp: Any) -> Any:
    """The default slimtune space as Keras Tuner hyperparameters."""
    from spaces import CNNConfig, ConvBlock, load_space

    space = load_space()
    blocks = tuple(
        ConvBlock(hp.Choice(f"kernel_size_{i}", list(space.kernel_size)),
                  hp.Int(f"filters_{i}", *space.filters, sampling="log"),
                  hp.Choice(f"pool_{i}", list(space.pool)),
                  hp.Choice(f"padding_{i}", list(space.padding)))
        for i in range(hp.Int("n_blocks", *space.blocks)))
    dense = hp.Boolean("hidden_dense")
    return CNNConfig(blocks, hp.Choice("head", list(space.head)),
                     hp.Int("dense_units", *space.dense_units, sampling="log") if dense else 0,
                     hp.Choice("dropout", list(space.dropout)) if dense else 0.0)


def score(worst: float, params: int, floor: float) -> float:
    return 2 - math.log10(params) / 10 if worst >= floor else worst


def run_keras_tuner(engine: str, folder: Path, args: argparse.Namespace, offset_s: float) -> None:
    import keras_tuner as kt

    from search import resolve_dataset as resolve
    from spaces import footprint
    from throughput import plain_fit

    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    log = folder / "trials.jsonl"
    started = time.monotonic()
    base = kt.BayesianOptimization if engine == "keras-tuner" else kt.RandomSearch

    class Tuner(base):  # type: ignore[misc, valid-type]
        def run_trial(self, trial: Any, *fit_args: Any, **fit_kwargs: Any) -> dict[str, float]:
            config = kt_config(trial.hyperparameters)
            try:
                params = footprint(config, (28, 28, 1), 10).params
            except ValueError:  # cannot be built: the worst score
                return {"score": 0.0}
            worst = min(plain_fit(config, train, val, list(range(args.seeds)), args.epochs,
                                  128))
            with log.open("a") as handle:
                handle.write(json.dumps({"config": config.to_dict(), "params": params,
                                         "worst_val": worst, "engine_s": offset_s +
                                         time.monotonic() - started}) + "\n")
            return {"score": score(worst, params, args.floor)}

    tuner = Tuner(objective=kt.Objective("score", "max"), max_trials=100_000, seed=0,
                  directory=str(folder), project_name="kt", overwrite=False,
                  max_consecutive_failed_trials=100)
    tuner.search()


def slimtune_command(folder: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "slimtune", "search", "--trials", "100000",
            "--min-accuracy", str(args.floor), "--seeds", str(args.seeds), "--epochs",
            str(args.epochs), "--train-subset", str(args.train_size), "--out", str(folder),
            "--study-name", "efficiency", *(["--focus"] if args.focus else [])]


# --- budget, resume, analysis -------------------------------------------------------------------
def run_engine(engine: str, args: argparse.Namespace) -> None:
    """Spend what is left of `engine`'s budget in a child process; the state survives a kill."""
    folder = args.out / engine
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"elapsed_s": 0.0,
                                                                             "sessions": []}
    left_s = args.budget_min * 60 - state["elapsed_s"]
    if left_s <= 5:
        return
    env = {**os.environ, "PYTHONPATH": str(_common.REPO)}
    if engine == "slimtune":
        command = slimtune_command(folder, args)
    else:
        command = [sys.executable, __file__, "--engine-worker", engine, "--offset-s",
                   str(state["elapsed_s"]), *sys.argv[1:]]
    print(f"{engine}: {left_s / 60:.1f} min of budget left", flush=True)
    started_wall = time.time()
    started = time.monotonic()
    with open(folder / "engine.log", "a") as output:
        child = subprocess.Popen(command, cwd=_common.REPO, env=env, stdout=output,
                                 stderr=subprocess.STDOUT)
        try:
            child.wait(timeout=left_s)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    spent = min(time.monotonic() - started, left_s)
    state["sessions"].append({"start_unix": started_wall, "offset_s": state["elapsed_s"],
                              "spent_s": spent})
    state["elapsed_s"] += spent
    _common.write_json(state_path, state)


def engine_trials(engine: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every trained trial: config, params, worst-case val accuracy (None if stopped early),
    seconds into the engine's budget when it finished."""
    folder = args.out / engine
    if engine != "slimtune":
        path = folder / "trials.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
            else []
    import optuna
    from optuna.trial import TrialState

    from search import FOCUS_REASON

    db = folder / "optuna.db"
    if not db.exists():
        return []
    sessions = json.loads((folder / "state.json").read_text())["sessions"]
    study = optuna.load_study(study_name="efficiency", storage=f"sqlite:///{db}")
    rows = []
    for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if "footprint" not in t.user_attrs or str(t.user_attrs.get("prune_reason", "")) \
                .startswith((FOCUS_REASON, "over budget")):
            continue  # never trained
        done = t.datetime_complete.timestamp()
        session = max((s for s in sessions if s["start_unix"] <= done),
                      key=lambda s: s["start_unix"], default=sessions[0])
        rows.append({"config": t.user_attrs["config"],
                     "params": t.user_attrs["footprint"]["params"],
                     "worst_val": t.values[0] if t.state == TrialState.COMPLETE else None,
                     "engine_s": session["offset_s"] + done - session["start_unix"]})
    return rows


def hypervolume(rows: list[dict[str, Any]], floor: float = HV_REFERENCE[1]) -> float:
    """Area dominated by the (log10 params, worst-case val accuracy) front, to the reference
    (log10 params 7, accuracy `floor`): with the floor as reference only feasible trials count,
    so a trial stopped early (no final accuracy) costs an engine nothing it would have earned."""
    points = sorted((math.log10(r["params"]), r["worst_val"]) for r in rows
                    if r["worst_val"] is not None and r["worst_val"] > floor
                    and math.log10(r["params"]) < HV_REFERENCE[0])
    area, best = 0.0, floor
    for i, (size, acc) in enumerate(points):  # sweep from small to large models
        best = max(best, acc)
        right = points[i + 1][0] if i + 1 < len(points) else HV_REFERENCE[0]
        area += (right - size) * (best - floor)
    return round(area, 4)


def confirm(rows: list[dict[str, Any]], args: argparse.Namespace, cache: dict[str, Any],
            splits: tuple[Any, Any, Any]) -> dict[str, Any] | None:
    """The smallest feasible-on-validation configuration that holds the floor on test."""
    from search import confirmation_seeds, train_seeds
    from spaces import CNNConfig, Recipe

    feasible = sorted((r for r in rows if r["worst_val"] is not None
                       and r["worst_val"] >= args.floor), key=lambda r: (r["params"], r["engine_s"]))
    seen = set()
    for row in feasible:
        config = CNNConfig.from_dict(row["config"])
        if config.summary() in seen or len(seen) >= args.confirm_candidates:
            continue
        seen.add(config.summary())
        if config.summary() not in cache:
            outcome = train_seeds(config, *splits[:2], Recipe(epochs=args.epochs),
                                  confirmation_seeds(0, args.seeds), test=splits[2],
                                  keep_model=False)
            cache[config.summary()] = min(outcome.test_accuracies)
        if cache[config.summary()] >= args.floor:
            first = min(r["engine_s"] for r in rows
                        if CNNConfig.from_dict(r["config"]).summary() == config.summary())
            return {"summary": config.summary(), "config": config.to_dict(),
                    "params": row["params"], "worst_test": cache[config.summary()],
                    "first_found_s": round(first, 1)}
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-min", type=float, default=20.0)
    parser.add_argument("--floor", type=float, default=0.95)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--confirm-candidates", type=int, default=3)
    parser.add_argument("--focus", action="store_true", help="run slimtune with --focus")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/search_efficiency"))
    parser.add_argument("--engine-worker", help=argparse.SUPPRESS)
    parser.add_argument("--offset-s", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out = args.out.absolute()
    if args.engine_worker:
        run_keras_tuner(args.engine_worker, args.out / args.engine_worker, args, args.offset_s)
        return {}

    from search import resolve_dataset as resolve

    engines = args.engines.split(",")
    for engine in engines:
        run_engine(engine, args)
    source = resolve("mnist", _common.data_dir())
    splits = (*source.train_val(5000, args.train_size), source.test())
    cache_path = args.out / "confirmations.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    report = {}
    for engine in engines:
        # Only what finished within --budget-min counts, so a longer run's study can also be
        # read at a shorter budget: the search does not know its budget, so its first N minutes
        # are the run it would have made with N minutes.
        rows = [r for r in engine_trials(engine, args) if r["engine_s"] <= args.budget_min * 60]
        pick = confirm(rows, args, cache, splits)
        _common.write_json(cache_path, cache)
        report[engine] = {"trials": len(rows), "hypervolume": hypervolume(rows),
                          "hypervolume_feasible": hypervolume(rows, args.floor), "pick": pick}
    result = {"machine": _common.machine(), "budget_min": args.budget_min, "floor": args.floor,
              "seeds": args.seeds, "epochs": args.epochs, "train_size": args.train_size,
              "engines": report}
    _common.write_json(args.out / f"search_efficiency_{args.floor}.json", result)
    print(f"budget {args.budget_min} min per engine, floor {args.floor}, {args.seeds} seeds, "
          f"{args.epochs} epochs, {args.train_size:,} training images")
    for engine, r in report.items():
        pick = r["pick"]
        found = (f"pick {pick['summary']} {pick['params']:,} params, worst test "
                 f"{pick['worst_test']:.4f}, first found at {pick['first_found_s']:.0f}s"
                 if pick else "no pick held the floor")
        print(f"{engine:12s} trials {r['trials']:4d}  hypervolume {r['hypervolume']:.4f} "
              f"(above the floor {r['hypervolume_feasible']:.4f})  {found}")
    return result


if __name__ == "__main__":
    main()
