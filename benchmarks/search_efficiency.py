"""slimtune vs Optuna, Keras Tuner (Bayesian optimisation, Hyperband) and random search, at the
same wall budget per engine.

    python benchmarks/search_efficiency.py [--budget-min 20] [--floor 0.95] [--seeds 3]
        [--epochs 5] [--train-size 50000] [--repeats 1] [--first-repeat 0]
        [--peer-recipe usual|slimtune]
        [--engines slimtune,optuna,keras-tuner,hyperband,random] [--confirm-candidates 3]
        [--slimtune-focus | --slimtune-no-focus] [--slimtune-no-shrink] [--slimtune-confidence C]
        [--out DIR]

Data. Every engine sees the same split of the MNIST training file: validation is its last 5,000
images, the 5,000 before them are held out (slimtune's recheck split, `--recheck-size 5000`),
and the first `--train-size` of the rest are trained on (`DataSource.train_val(5000,
train_size, holdout=5000)`, at most 50,000). The test split is read only after the searches.

Engines, one after another, each in a child process with `--budget-min` minutes of wall clock
(its imports and start-up included), all over the default space (spaces/default.toml):

- slimtune: `python -m slimtune search` with its own defaults (strategy smallest, TPE, its fast
  trainer with racing and early stopping, Adam 1e-2 with cosine decay, the validation margin of
  `--confidence 0.95`, the recheck split) plus `--timeout <budget seconds left>`. It is not killed
  at the budget: its timeout counts from its own start and stops new trials early enough (by
  its estimate) for the running ones to finish and its smallest feasible trial to be confirmed;
  then it analyses, rechecks its candidates and reads the test split once for its pick. The
  benchmark waits up to 20 minutes past the budget for that and kills it only then. Its pick
  is its own `result.json` (`chosen`), selected by its own rule and not reconfirmed here;
  `confirmations[0].passed` says whether its first candidate held.
  `--focus` (configurations larger than the smallest feasible one pruned untrained) is slimtune's
  default under the smallest strategy; `--slimtune-no-focus` runs it with `--no-focus`, in
  DIR/slimtune-focus (`--slimtune-focus` passes `--focus` explicitly, in DIR/slimtune+focus).
  Shrink moves (search/study/_shrink.py) are on by default; `--slimtune-no-shrink` runs it with
  `--no-shrink`, in DIR/slimtune-shrink. `--slimtune-confidence C` runs it with `--confidence C`
  (the validation margin's confidence; README "How a search works"), in DIR/slimtune-confidenceC.
- optuna: Optuna as a user writes it: `create_study(direction="minimize",
  sampler=TPESampler(seed=repeat))` in SQLite under the engine folder (resumed with
  load_if_exists), an objective that samples with `SearchSpace.suggest(trial)`, trains each seed
  with plain `model.fit`, sets `trial.set_constraint("accuracy_floor", floor - worst-case
  validation accuracy)` and returns the deployed parameter count. A configuration that cannot be
  built gets the constraint `floor` (accuracy 0, so TPE counts it infeasible) and is pruned; a
  training that crashes fails its trial (`optimize(catch=(Exception,))`), as in Keras Tuner.
- keras-tuner, random: Keras Tuner's BayesianOptimization and RandomSearch (seed = repeat). Each
  trial trains every seed with plain `model.fit` and reports one score that folds in what Keras
  Tuner cannot express as a constraint: an infeasible trial scores its worst-case validation
  accuracy (< floor), a feasible one 2 - log10(params) / 10, so smaller is better; one that
  cannot be built scores 0. The whole space is declared up front (`kt_space`), as Keras Tuner does
  for a hypermodel.
- hyperband: Keras Tuner's Hyperband (max_epochs = --epochs, factor 3, seed = repeat), same score.
  Each trial trains from scratch for the epochs Hyperband asks (`tuner/epochs`); only trials
  trained for the full --epochs have a final accuracy (the others are trials, never candidates).

Sizes are deployed parameters (`spaces.footprint`, BatchNorm folded) for every engine. The peers
(every engine but slimtune) train with plain `model.fit` (float32), --seeds seeds, batch 128 and
--epochs epochs, under `--peer-recipe`: `usual` (Adam 1e-3, constant; engine folders
DIR/<engine>) or `slimtune` (slimtune's Adam 1e-2 with cosine decay over the epochs of each fit;
folders DIR/<engine>+recipe, so both variants can share one DIR).

Repeats. Repeat r (0-based, `--repeats N`) runs every engine, engines in turn, with sampler seed
r, training seeds 1000 r + k and confirmation seeds 1000 r + 500 + k (slimtune: `--seed r`, the
same scheme), in DIR/<folder>/r<r> (a run made before repeats existed, DIR/<folder>/state.json,
is read as repeat 0). `--first-repeat F` runs and reports repeats F..N-1 only, so the repeats of
one engine can be spread over processes, e.g. one per core under `taskset` (slimtune then runs
one trial at a time: its default --workers is the cores the process may use).

Resume. Each engine's trials are on disk as they finish (slimtune: its Optuna study; the peers:
DIR/<folder>/r<r>/trials.jsonl, and their Optuna study or Keras Tuner project, which resume the
sampler) and the budget spent is in DIR/<folder>/r<r>/state.json, so a rerun spends only what is
left. A peer is stopped by SIGTERM when its budget is spent (optuna records its running trial as
failed). A slimtune run stopped before it finished is run again with a tiny timeout (no new
trials: analysis, recheck and confirmation only).

Confirmation. Only peer trials that finished within `--budget-min` count (so a run can be read
again at a shorter budget); for slimtune every trial counts (none started after its timeout). A
peer's candidates are its configurations whose worst seed reached the floor on validation (no
margin), smallest first; after the budgets, up to --confirm-candidates of them are retrained
with fresh seeds by slimtune's trainer (`search.train_seeds`) under the recipe that peer searched
with (float32) and tested on the test split; the first that holds the floor is its pick (cached
in DIR/confirmations.json).

Report, per engine and repeat: the pick, its params, its worst-case test accuracy, when it was
first trained (seconds into the budget at which a trial of its configuration first finished
with a final accuracy),
whether the first candidate held on test (None: no candidate), the trials trained and the
hypervolume of (log10 params, worst-case validation accuracy) over all trials and over those
above the floor. Printed last, one line per engine over the repeats: picks found, median and
min-max params of the picks, median time to the pick, median hypervolume above the floor, median
trials, and per repeat whether the first candidate held (y, n, - for none). Everything is also
in DIR/search_efficiency_<floor>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import _common

ENGINES = ("slimtune", "optuna", "keras-tuner", "hyperband", "random")
HV_REFERENCE = (7.0, 0.0)  # log10(params) to minimise, worst-case accuracy to maximise
VAL_SIZE = RECHECK_SIZE = 5000  # slimtune's defaults; the peers get the same training split
SLIMTUNE_GRACE_S = 20 * 60  # slimtune's analysis, recheck and confirmation after its timeout


# --- recipes, seeds, data ------------------------------------------------------------------------
def peer_recipe(args: argparse.Namespace) -> Any:
    """How the peers train (and their picks are confirmed): their usual recipe or slimtune's, in
    float32 as plain `model.fit` trains."""
    from slimtune.search import SearchSettings
    from slimtune.spaces import Recipe

    if args.peer_recipe == "slimtune":
        return replace(
            SearchSettings.of().training.recipe,
            epochs=args.epochs,
            batch_size=128,
            precision="float32",
        )
    return Recipe(
        epochs=args.epochs,
        batch_size=128,
        learning_rate=1e-3,
        schedule="constant",
        precision="float32",
    )


def splits(args: argparse.Namespace) -> tuple[Any, Any]:
    from slimtune.search import resolve_dataset as resolve

    source = resolve("mnist", _common.data_dir())
    return source.train_val(VAL_SIZE, args.train_size, holdout=RECHECK_SIZE)


# --- the peer engines (run in a child process) -----------------------------------------------
def kt_config(hp: Any) -> Any:
    """The default slimtune space as Keras Tuner hyperparameters; a dimension with one choice
    is fixed, as in `SearchSpace.suggest`."""
    from slimtune.spaces import CNNConfig, ConvBlock, load_space

    space = load_space()

    def choice(name: str, values: tuple[Any, ...]) -> Any:
        if len(values) == 1:
            return values[0]
        return hp.Boolean(name) if set(values) == {False, True} else hp.Choice(name, list(values))

    def integer(name: str, bounds: tuple[int, int], log: bool = False) -> int:
        return (
            bounds[0]
            if bounds[0] == bounds[1]
            else hp.Int(name, *bounds, sampling="log" if log else "linear")
        )

    blocks = tuple(
        ConvBlock(
            choice(f"kernel_size_{i}", space.kernel_size),
            integer(f"filters_{i}", space.filters, log=True),
            choice(f"pool_{i}", space.pool),
            choice(f"padding_{i}", space.padding),
            choice(f"separable_{i}", space.separable),
        )
        for i in range(integer("n_blocks", space.blocks))
    )
    batch_norm = choice("batch_norm", space.batch_norm)
    head = choice("head", space.head)
    dense = choice("hidden_dense", (False, True) if space.dense_optional else (True,))
    return CNNConfig(
        blocks,
        head,
        integer("dense_units", space.dense_units, log=True) if dense else 0,
        float(choice("dropout", space.dropout)) if dense else 0.0,
        batch_norm=batch_norm,
    )


def kt_space() -> Any:
    """Every hyperparameter of `kt_config` declared up front, as Keras Tuner does for a hypermodel
    (it builds it until every conditional one has shown up); Hyperband draws only declared ones."""
    import keras_tuner as kt

    from slimtune.spaces import load_space

    hp, space = kt.HyperParameters(), load_space()
    kt_config(hp)
    for name, value in (("n_blocks", space.blocks[1]), ("hidden_dense", True)):
        if name in hp.values:
            hp.values[name] = value
    kt_config(hp)  # the hyperparameters of the deeper blocks and the hidden layer
    return hp


def score(worst: float, params: int, floor: float) -> float:
    return 2 - math.log10(params) / 10 if worst >= floor else worst


class TrialLog:
    """DIR/<folder>/r<r>/trials.jsonl: one row per trained trial, timed into the budget."""

    def __init__(self, folder: Path, offset_s: float) -> None:
        self.path, self.offset_s, self.started = folder / "trials.jsonl", offset_s, time.monotonic()

    def write(self, config: Any, params: int, worst: float | None, epochs: int) -> None:
        with self.path.open("a") as handle:
            handle.write(
                json.dumps(
                    {
                        "config": config.to_dict(),
                        "params": params,
                        "worst_val": worst,
                        "epochs": epochs,
                        "engine_s": self.offset_s + time.monotonic() - self.started,
                    }
                )
                + "\n"
            )


def run_keras_tuner(engine: str, folder: Path, args: argparse.Namespace) -> None:
    import keras_tuner as kt
    from throughput import plain_fit

    from slimtune.search import search_seeds
    from slimtune.spaces import footprint

    train, val = splits(args)
    recipe, seeds = peer_recipe(args), search_seeds(args.worker_repeat, args.seeds)
    log = TrialLog(folder, args.offset_s)
    base = {
        "keras-tuner": kt.BayesianOptimization,
        "hyperband": kt.Hyperband,
        "random": kt.RandomSearch,
    }[engine]

    class Tuner(base):  # type: ignore[misc, valid-type]
        def run_trial(self, trial: Any, *fit_args: Any, **fit_kwargs: Any) -> dict[str, float]:
            config = kt_config(trial.hyperparameters)
            try:
                params = footprint(config, (28, 28, 1), 10).params
            except ValueError:  # cannot be built: the worst score
                return {"score": 0.0}
            # Hyperband asks for fewer epochs in its early rounds; the others train them all.
            epochs = trial.hyperparameters.values.get("tuner/epochs", args.epochs)
            worst = min(
                plain_fit(
                    config,
                    train,
                    val,
                    seeds,
                    epochs,
                    recipe.batch_size,
                    recipe=replace(recipe, epochs=epochs),
                )
            )
            log.write(config, params, worst if epochs >= args.epochs else None, epochs)
            return {"score": score(worst, params, args.floor)}

    budget = (
        {"max_epochs": args.epochs, "factor": 3, "hyperband_iterations": 10_000}
        if engine == "hyperband"
        else {"max_trials": 100_000}
    )
    tuner = Tuner(
        objective=kt.Objective("score", "max"),
        seed=args.worker_repeat,
        hyperparameters=kt_space(),
        directory=str(folder),
        project_name="kt",
        overwrite=False,
        max_consecutive_failed_trials=100,
        **budget,
    )
    tuner.search()


def run_optuna(folder: Path, args: argparse.Namespace) -> None:
    import optuna
    from throughput import plain_fit

    from slimtune.search import search_seeds
    from slimtune.spaces import footprint, load_space

    train, val = splits(args)
    recipe, seeds = peer_recipe(args), search_seeds(args.worker_repeat, args.seeds)
    space = load_space()
    log = TrialLog(folder, args.offset_s)

    def objective(trial: optuna.Trial) -> int:
        config = space.suggest(trial)
        try:
            params = footprint(config, (28, 28, 1), 10).params
        except ValueError:
            trial.set_constraint("accuracy_floor", args.floor)  # as if accuracy 0: infeasible
            raise optuna.TrialPruned("cannot be built") from None
        worst = min(
            plain_fit(config, train, val, seeds, recipe.epochs, recipe.batch_size, recipe=recipe)
        )
        trial.set_constraint("accuracy_floor", args.floor - worst)
        log.write(config, params, worst, recipe.epochs)
        return params

    study = optuna.create_study(
        study_name="optuna",
        storage=f"sqlite:///{folder / 'optuna.db'}",
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=args.worker_repeat),
        load_if_exists=True,
    )
    # Until the budget's SIGTERM; a training that crashes (TensorFlow errors on some tiny
    # models) fails its trial and the study goes on, as Keras Tuner does.
    study.optimize(objective, catch=(Exception,))


def slimtune_command(
    folder: Path, args: argparse.Namespace, repeat: int, timeout_s: float
) -> list[str]:
    data_dir = _common.data_dir()
    data = ["--data-dir", str(data_dir.absolute())] if data_dir else []
    return [
        sys.executable,
        "-m",
        "slimtune",
        "search",
        "--trials",
        "100000",
        "--timeout",
        f"{timeout_s:.3f}",
        "--min-accuracy",
        str(args.floor),
        "--seeds",
        str(args.seeds),
        "--epochs",
        str(args.epochs),
        "--train-subset",
        str(args.train_size),
        "--val-size",
        str(VAL_SIZE),
        "--recheck-size",
        str(RECHECK_SIZE),
        "--seed",
        str(repeat),
        *data,
        "--out",
        str(folder),
        "--study-name",
        "efficiency",
        *(["--focus"] if args.slimtune_focus else []),
        *(["--no-focus"] if args.slimtune_no_focus else []),
        *(["--no-shrink"] if args.slimtune_no_shrink else []),
        *(["--confidence", str(args.slimtune_confidence)] if args.slimtune_confidence else []),
    ]


# --- budget, resume ---------------------------------------------------------------------------
def folder_name(engine: str, args: argparse.Namespace) -> str:
    if engine == "slimtune":
        return (
            engine
            + ("+focus" if args.slimtune_focus else "")
            + ("-focus" if args.slimtune_no_focus else "")
            + ("-shrink" if args.slimtune_no_shrink else "")
            + (f"-confidence{args.slimtune_confidence:g}" if args.slimtune_confidence else "")
        )
    return engine + ("+recipe" if args.peer_recipe == "slimtune" else "")


def engine_folder(engine: str, repeat: int, args: argparse.Namespace) -> Path:
    base = args.out / folder_name(engine, args)
    if repeat == 0 and (base / "state.json").exists():  # a run from before --repeats
        return base
    return base / f"r{repeat}"


def run_engine(engine: str, repeat: int, args: argparse.Namespace, argv: list[str]) -> None:
    """Spend what is left of `engine`'s budget in a child process; the state survives a kill."""
    folder = engine_folder(engine, repeat, args)
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    state = (
        json.loads(state_path.read_text())
        if state_path.exists()
        else {"elapsed_s": 0.0, "sessions": []}
    )
    left_s = args.budget_min * 60 - state["elapsed_s"]
    name = f"{folder_name(engine, args)} r{repeat}"
    slimtune = engine == "slimtune"
    finished = not slimtune or state.get("done")  # slimtune: its result.json is written
    if left_s <= 5 and finished:
        return
    env = {**os.environ, "PYTHONPATH": str(_common.REPO)}
    if slimtune:  # not killed at the budget: its --timeout stops new trials
        command = slimtune_command(folder, args, repeat, max(left_s, 0.001))
        wait_s = max(left_s, 0.0) + SLIMTUNE_GRACE_S
    else:
        command = [
            sys.executable,
            __file__,
            *argv,
            "--engine-worker",
            engine,
            "--worker-repeat",
            str(repeat),
            "--worker-folder",
            str(folder),
            "--offset-s",
            str(state["elapsed_s"]),
        ]
        wait_s = left_s
    print(
        f"{name}: {left_s / 60:.1f} min of budget left"
        if left_s > 5
        else f"{name}: budget spent, finishing its analysis and confirmation",
        flush=True,
    )
    started_wall = time.time()
    started = time.monotonic()
    with open(folder / "engine.log", "a") as output:
        child = subprocess.Popen(
            command, cwd=_common.REPO, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            child.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    spent = min(time.monotonic() - started, max(left_s, 0.0))
    state["sessions"].append(
        {"start_unix": started_wall, "offset_s": state["elapsed_s"], "spent_s": spent}
    )
    state["elapsed_s"] += spent
    if slimtune:
        state["done"] = child.returncode == 0  # its result.json holds its pick
    _common.write_json(state_path, state)


# --- analysis ---------------------------------------------------------------------------------
def engine_trials(engine: str, folder: Path) -> list[dict[str, Any]]:
    """Every trained trial: config, params, worst-case val accuracy (None if stopped early or
    trained for fewer epochs), seconds into the engine's budget when it finished."""
    if engine != "slimtune":
        path = folder / "trials.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    import optuna
    from optuna.trial import TrialState

    from slimtune.search import FOCUS_REASON

    db = folder / "optuna.db"
    if not db.exists():
        return []
    sessions = json.loads((folder / "state.json").read_text())["sessions"]
    study = optuna.load_study(study_name="efficiency", storage=f"sqlite:///{db}")
    rows = []
    for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if (
            "footprint" not in t.user_attrs
            or "duplicate_of" in t.user_attrs
            or str(t.user_attrs.get("prune_reason", "")).startswith((FOCUS_REASON, "over budget"))
        ):
            continue  # never trained
        done = t.datetime_complete.timestamp()
        session = max(
            (s for s in sessions if s["start_unix"] <= done),
            key=lambda s: s["start_unix"],
            default=sessions[0],
        )
        rows.append(
            {
                "config": t.user_attrs["config"],
                "params": t.user_attrs["footprint"]["params"],
                "worst_val": t.values[0] if t.state == TrialState.COMPLETE else None,
                "engine_s": session["offset_s"] + done - session["start_unix"],
            }
        )
    return rows


def hypervolume(rows: list[dict[str, Any]], floor: float = HV_REFERENCE[1]) -> float:
    """Area dominated by the (log10 params, worst-case val accuracy) front, to the reference
    (log10 params 7, accuracy `floor`): with the floor as reference only feasible trials count,
    so a trial stopped early (no final accuracy) costs an engine nothing it would have earned."""
    points = sorted(
        (math.log10(r["params"]), r["worst_val"])
        for r in rows
        if r["worst_val"] is not None
        and r["worst_val"] > floor
        and math.log10(r["params"]) < HV_REFERENCE[0]
    )
    area, best = 0.0, floor
    for i, (size, acc) in enumerate(points):  # sweep from small to large models
        best = max(best, acc)
        right = points[i + 1][0] if i + 1 < len(points) else HV_REFERENCE[0]
        area += (right - size) * (best - floor)
    return round(area, 4)


def first_trained_s(rows: list[dict[str, Any]], summary: str) -> float | None:
    """Seconds into the budget when a trial of `summary` first finished with a final accuracy."""
    from slimtune.spaces import CNNConfig

    times = [
        r["engine_s"]
        for r in rows
        if r["worst_val"] is not None and CNNConfig.from_dict(r["config"]).summary() == summary
    ]
    return round(min(times), 1) if times else None


def confirm(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    repeat: int,
    cache: dict[str, Any],
    data: tuple[Any, Any, Any],
) -> tuple[dict | None, bool | None]:
    """A peer's pick: the smallest feasible-on-validation configuration that holds the floor on
    test, retrained with fresh seeds under the peer's recipe; and whether the first held."""
    from slimtune.search import confirmation_seeds, train_seeds
    from slimtune.spaces import CNNConfig

    recipe = peer_recipe(args)
    feasible = sorted(
        (r for r in rows if r["worst_val"] is not None and r["worst_val"] >= args.floor),
        key=lambda r: (r["params"], r["engine_s"]),
    )
    seen: list[str] = []
    for row in feasible:
        config = CNNConfig.from_dict(row["config"])
        summary = config.summary()
        if summary in seen or len(seen) >= args.confirm_candidates:
            continue
        seen.append(summary)
        key = f"{args.peer_recipe}|r{repeat}|{summary}"
        if key not in cache:
            outcome = train_seeds(
                config,
                *data[:2],
                recipe,
                confirmation_seeds(repeat, args.seeds),
                test=data[2],
                keep_model=False,
            )
            cache[key] = min(outcome.test_accuracies)
        if cache[key] >= args.floor:
            return (
                {
                    "summary": summary,
                    "config": config.to_dict(),
                    "params": row["params"],
                    "worst_test": cache[key],
                    "first_found_s": first_trained_s(rows, summary),
                },
                len(seen) == 1,
            )
    return None, (False if seen else None)


def slimtune_pick(folder: Path, rows: list[dict[str, Any]]) -> tuple[dict | None, bool | None]:
    """slimtune's own pick from its result.json, and whether its first candidate held."""
    path = folder / "result.json"
    if not path.exists():
        return None, None
    result = json.loads(path.read_text())
    confirmations = result.get("confirmations") or []
    first_held = bool(confirmations[0]["passed"]) if confirmations else None
    chosen = result.get("chosen")
    if not chosen:
        return None, first_held
    return (
        {
            "summary": chosen["summary"],
            "config": chosen["config"],
            "params": chosen["footprint"]["params"],
            "worst_test": chosen["worst_case_test_accuracy"],
            "first_found_s": first_trained_s(rows, chosen["summary"]),
        },
        first_held,
    )


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine over the repeats."""
    params = [r["pick"]["params"] for r in runs if r["pick"]]
    found = [
        r["pick"]["first_found_s"]
        for r in runs
        if r["pick"] and r["pick"]["first_found_s"] is not None
    ]
    return {
        "repeats": len(runs),
        "picks": len(params),
        "median_params": median(params),
        "min_params": min(params, default=None),
        "max_params": max(params, default=None),
        "median_first_found_s": median(found),
        "median_hypervolume_feasible": median([r["hypervolume_feasible"] for r in runs]),
        "median_trials": median([r["trials"] for r in runs]),
        "first_candidate_held": [r["first_candidate_held"] for r in runs],
    }


def engine_line(name: str, s: dict[str, Any]) -> str:
    held = " ".join("-" if h is None else "y" if h else "n" for h in s["first_candidate_held"])
    found = "?" if s["median_first_found_s"] is None else f"{s['median_first_found_s']:.0f}s"
    if s["picks"]:
        size = (
            f"params {s['median_params']:,.0f} [{s['min_params']:,}-{s['max_params']:,}]  "
            f"pick trained at {found}"
        )
    else:
        size = "no pick held the floor"
    return (
        f"{name:18s} picks {s['picks']}/{s['repeats']}  {size}  hypervolume above the floor "
        f"{s['median_hypervolume_feasible']:.4f}  trials {s['median_trials']:g}  "
        f"first candidate held: {held}"
    )


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-min", type=float, default=20.0)
    parser.add_argument("--floor", type=float, default=0.95)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--first-repeat",
        type=int,
        default=0,
        help="run and report repeats FIRST..REPEATS-1 only (to spread the "
        "repeats of one engine over several processes or cores)",
    )
    parser.add_argument(
        "--peer-recipe",
        choices=("usual", "slimtune"),
        default="usual",
        help="the peers train with Adam 1e-3 constant (usual) or slimtune's Adam 1e-2 cosine",
    )
    parser.add_argument("--confirm-candidates", type=int, default=3)
    parser.add_argument(
        "--slimtune-no-focus",
        action="store_true",
        help="run slimtune with --no-focus (the default before 2026-12-02), in DIR/slimtune-focus",
    )
    parser.add_argument(
        "--slimtune-no-shrink",
        action="store_true",
        help="run slimtune with --no-shrink (the default before 2026-12-03), in "
        "DIR/slimtune-shrink",
    )
    parser.add_argument(
        "--slimtune-confidence",
        type=float,
        help="run slimtune with --confidence C (its validation margin's one-sided "
        "confidence; default 0.95), in DIR/slimtune-confidenceC",
    )
    parser.add_argument(
        "--slimtune-focus",
        action="store_true",
        help="run slimtune with --focus, in DIR/slimtune+focus",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/search_efficiency"))
    parser.add_argument("--engine-worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-repeat", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--offset-s", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out = args.out.absolute()
    engines = args.engines.split(",")
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"--engines: unknown {unknown[0]!r}; use some of {','.join(ENGINES)}")
    if args.engine_worker == "optuna":
        signal.signal(signal.SIGTERM, interrupt)  # the running trial is recorded as failed
        run_optuna(args.worker_folder, args)
        return {}
    if args.engine_worker:
        run_keras_tuner(args.engine_worker, args.worker_folder, args)
        return {}

    from slimtune.search import resolve_dataset as resolve

    repeats = range(args.first_repeat, args.repeats)
    if args.first_repeat < 0 or not repeats:
        parser.error(
            f"--first-repeat {args.first_repeat}: use 0 or more, below --repeats {args.repeats}"
        )
    for repeat in repeats:
        for engine in engines:
            run_engine(engine, repeat, args, argv)
    data = (*splits(args), resolve("mnist", _common.data_dir()).test())
    cache_path = args.out / "confirmations.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    report = {}
    for engine in engines:
        runs = []
        for repeat in repeats:
            folder = engine_folder(engine, repeat, args)
            rows = engine_trials(engine, folder)
            if engine == "slimtune":  # every trial started within its --timeout
                pick, first_held = slimtune_pick(folder, rows)
            else:
                # Only what finished within --budget-min counts, so a longer run can also be
                # read at a shorter budget: the search does not know its budget, so its first
                # N minutes are the run it would have made with N minutes.
                rows = [r for r in rows if r["engine_s"] <= args.budget_min * 60]
                pick, first_held = confirm(rows, args, repeat, cache, data)
                _common.write_json(cache_path, cache)
            runs.append(
                {
                    "repeat": repeat,
                    "trials": len(rows),
                    "hypervolume": hypervolume(rows),
                    "hypervolume_feasible": hypervolume(rows, args.floor),
                    "pick": pick,
                    "first_candidate_held": first_held,
                }
            )
        report[folder_name(engine, args)] = {"summary": summarise(runs), "runs": runs}
    result = {
        "machine": _common.machine(),
        "budget_min": args.budget_min,
        "floor": args.floor,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "train_size": len(data[0].x),
        "repeats": list(repeats),
        "peer_recipe": peer_recipe(args).to_dict(),
        "engines": report,
    }
    _common.write_json(args.out / f"search_efficiency_{args.floor}.json", result)
    recipe = peer_recipe(args)
    print(
        f"budget {args.budget_min} min per engine, floor {args.floor}, {args.seeds} seeds, "
        f"{args.epochs} epochs, {len(data[0].x):,} training images, repeats "
        f"{args.first_repeat}-{args.repeats - 1}; "
        f"peers: {recipe.optimizer} {recipe.learning_rate:g} {recipe.schedule}"
    )
    for name, r in report.items():
        print(engine_line(name, r["summary"]))
    return result


if __name__ == "__main__":
    main()
