"""Trials per hour with 1 and with 2 Ray workers, and the orchestration overhead per trial.

    python benchmarks/scaling.py [--trials 8] [--train-size 55000] [--epochs 1] [--seeds 3]
                                 [--workers 1,2] [--log-models all|front|confirmed] [--out DIR]

Runs the same `slimtune search` (RandomSampler with a fixed seed, so both runs train the same
configurations; early stopping off, so every trial trains fully) once per worker count, each in a
fresh study. From the Optuna storage: trials/hour = trials / (last completion - first start), and
overhead = a trial's wall time (start to completion as the driver saw it) minus the training time
the worker measured, as a share of the trial's wall time; its median is the steady state (a
worker's first trial also starts the worker and imports TensorFlow, printed apart). That wall
time ends at Optuna's tell, before the driver writes the trial's MLflow run (and model): with one
worker the next trial starts only after those writes, so the driver's cost per trial = (span -
total training) / trials counts them too. A study that exists already is resumed.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import _common


def measure(out: Path, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    import optuna
    from optuna.trial import TrialState

    from slimtune.search import Progress, SearchSettings, run_search

    folder = out / f"scaling-w{workers}"
    settings = SearchSettings.of(
        data_dir=str(_common.data_dir()) if _common.data_dir() else None,
        train_subset=args.train_size,
        trials=args.trials,
        seeds=args.seeds,
        epochs=args.epochs,
        sampler="random",
        early_stopping=False,
        min_accuracy=1.0,
        workers=workers,
        out=str(folder),
        study_name=f"scaling-w{workers}",
        **({"log_models": args.log_models} if args.log_models else {}),
    )
    run_search(settings, Progress())
    study = optuna.load_study(
        study_name=f"scaling-w{workers}", storage=f"sqlite:///{folder / 'optuna.db'}"
    )
    trained = [
        t
        for t in study.get_trials(states=(TrialState.COMPLETE,))
        if "train_time_s" in t.user_attrs and "duplicate_of" not in t.user_attrs
    ]
    if not trained:
        raise SystemExit(f"no trained trial in {folder}")
    trained.sort(key=lambda t: t.datetime_start)
    wall = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trained]
    overhead = [w - t.user_attrs["train_time_s"] for w, t in zip(wall, trained, strict=False)]
    span_s = (
        max(t.datetime_complete for t in trained) - min(t.datetime_start for t in trained)
    ).total_seconds()
    # A worker's first trial also starts the worker process and imports TensorFlow (seconds,
    # once per worker and search): the steady state is the median, and the one-worker span
    # after the first trial (the driver's writes between trials included).
    later = trained[1:]
    steady_cost = (
        (
            (
                max(t.datetime_complete for t in trained) - trained[0].datetime_complete
            ).total_seconds()
            - sum(t.user_attrs["train_time_s"] for t in later)
        )
        / len(later)
        if later
        else None
    )
    return {
        "workers": workers,
        "trials": len(trained),
        "span_s": round(span_s, 1),
        "trials_per_hour": round(3600 * len(trained) / span_s, 1),
        "mean_trial_wall_s": round(statistics.mean(wall), 2),
        "mean_overhead_s": round(statistics.mean(overhead), 2),
        "median_overhead_s": round(statistics.median(overhead), 2),
        "first_trial_overhead_s": round(overhead[0], 2),
        "steady_cost_per_trial_s": None if steady_cost is None else round(steady_cost, 2),
        "cost_per_trial_s": round(
            (span_s - sum(t.user_attrs["train_time_s"] for t in trained)) / len(trained), 2
        ),
        "overhead_share": round(sum(overhead) / sum(wall), 4),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--log-models", default=None, help="slimtune search --log-models [default: its default]"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = parser.parse_args(argv)
    rows = [measure(args.out, int(w), args) for w in args.workers.split(",")]
    result = {
        "machine": _common.machine(),
        "rows": rows,
        "speedup": rows[-1]["trials_per_hour"] / rows[0]["trials_per_hour"],
    }
    _common.write_json(args.out / "scaling.json", result)
    for row in rows:
        print(
            f"{row['workers']} worker(s): {row['trials']} trials in {row['span_s']}s = "
            f"{row['trials_per_hour']} trials/hour; overhead {row['mean_overhead_s']}s per "
            f"trial = {100 * row['overhead_share']:.1f}% of trial time (median "
            f"{row['median_overhead_s']}s; the first, which starts a worker, "
            f"{row['first_trial_overhead_s']}s)"
            # one worker: trainings never overlap, so the span is training plus fixed costs
            + (
                f"; {row['cost_per_trial_s']}s per trial beyond training, driver included"
                if row["workers"] == 1
                else ""
            )
            + (
                f" ({row['steady_cost_per_trial_s']}s after the first trial)"
                if row["workers"] == 1 and row["steady_cost_per_trial_s"] is not None
                else ""
            )
        )
    print(
        f"speedup {rows[-1]['workers']} vs {rows[0]['workers']} worker(s): {result['speedup']:.2f}x"
    )
    return result


if __name__ == "__main__":
    main()
