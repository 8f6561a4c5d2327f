"""What one driver costs per trial when hundreds of workers feed it and the study holds thousands
of trials (issue 29). Run from the repository root:

    python benchmarks/driver_scale.py [--trials 1000] [--workers 64] [--trial-s 30]
                                      [--storage sqlite|postgres|both] [--sizes 100,1000,10000]
                                      [--tracking-uri URI] [--out FILE.json]

The REAL driver (`run_search`: the planner, the trial loop, Optuna's storage, the MLflow records
on a real `mlflow server` on 127.0.0.1 started here, the end analysis with its trials table and
figures) runs against a SIMULATED cluster (benchmarks/_simulated_cluster.py): `--workers`
workers on a virtual clock, trainings that take no real time and return a deterministic
synthetic outcome (accuracy a smooth function of the parameter count plus seeded noise), with
durations drawn log-normally around `--trial-s`. The driver's own time is real and passes on the
virtual clock too, so the utilisation it leaves the simulated workers is measured as well.

Measured, per trained trial (one completion read by the loop, with everything the driver did
until the next: telling Optuna, the MLflow run, asking the sampler for the replacement and any
trials it decided without training), in real wall and CPU seconds of the driver process:

- sampler: the Optuna sampler's own code (ask: relative and independent sampling);
- planner: the planner's own code (the space's suggest, footprints, its rules);
- storage reads / writes: Optuna storage calls (SQL statements counted too);
- mlflow: the trial records (client side and the wait for the server; HTTP requests counted);
- loop: the rest (the trial loop, progress lines, heartbeats' bookkeeping).

Each category is exclusive (a storage read inside the sampler counts as storage). Reported at
each study size in `--sizes` that the run reaches: the median and mean over the last 100 trained
trials, the driver's resident memory (RSS) there, and the worker utilisation this driver time
implies at 64, 256 and 1,000 workers for 10, 30 and 120 s trials: d / (d + c * W), with c the
driver's median wall time per trial (one driver serves the trials one after another; each
returning trial waits behind the others' driver work). The time the end of the search takes
(back-fill, analysis, simulated confirmations, trials table, figures) is printed apart.

`--trial-s` and `--workers` only shape the simulation (how many trials are in flight, so how
many heartbeats the driver writes); the driver's time per trial does not depend on the virtual
durations. The simulated trials carry no model file (`--log-models confirmed`): logging a real
model per trial is a cost this benchmark leaves out.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import resource
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from _simulated_cluster import SimulatedCluster

import _common
from support.services import mlflow_server, postgres_bin_dir, postgres_server

CATEGORIES = ("sampler", "planner", "storage_read", "storage_write", "mlflow", "loop")
WINDOW = 100  # trained trials per measurement
WORKER_COUNTS = (64, 256, 1000)
TRIAL_SECONDS = (10.0, 30.0, 120.0)
SAMPLER_METHODS = (
    "infer_relative_search_space",
    "sample_relative",
    "sample_independent",
    "before_trial",
    "after_trial",
)
PLANNER_METHODS = ("next", "tell_trained", "tell_failed", "tell_abandoned", "reserve_s")
READ_PREFIXES = ("get_", "read_", "check_", "is_")


class Accountant:
    """Exclusive wall and CPU seconds per category: entering a category pauses the one it was
    entered from, so nested calls are charged once, to the innermost."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.counts: Counter[str] = Counter()
        self._stack: list[str] = []
        self._mark = (time.perf_counter(), time.process_time())

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.counts.clear()
        self._mark = (time.perf_counter(), time.process_time())

    def _charge(self) -> None:
        now = (time.perf_counter(), time.process_time())
        top = self._stack[-1] if self._stack else "loop"
        self.wall[top] += now[0] - self._mark[0]
        self.cpu[top] += now[1] - self._mark[1]
        self._mark = now

    @contextmanager
    def charged(self, category: str) -> Iterator[None]:
        self._charge()
        self._stack.append(category)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def snapshot(self) -> dict[str, Any]:
        self._charge()
        return {"wall": dict(self.wall), "cpu": dict(self.cpu), "counts": dict(self.counts)}

    def wrap(self, cls: type, name: str, category: str) -> None:
        """Charge `cls.name` (when `cls` itself defines it) to `category`."""
        original = cls.__dict__.get(name)
        if original is None or not callable(original) or getattr(original, "_charged", False):
            return

        label = f"{category}:{name}"

        @functools.wraps(original)
        def charged(*args: Any, **kwargs: Any) -> Any:
            self.counts[label] += 1
            with self.charged(category):
                return original(*args, **kwargs)

        charged._charged = True  # type: ignore[attr-defined]
        setattr(cls, name, charged)


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def instrument(acc: Accountant) -> None:
    """Charge the driver's calls to their categories; count SQL statements and HTTP requests."""
    import mlflow.utils.rest_utils as rest_utils
    import optuna
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from slimtune.search.study import Planner, TrialRecords

    for cls in _subclasses(optuna.samplers.BaseSampler):
        for name in SAMPLER_METHODS:
            acc.wrap(cls, name, "sampler")
    for cls in _subclasses(Planner):
        for name in PLANNER_METHODS:
            acc.wrap(cls, name, "planner")
    for cls in _subclasses(optuna.storages.BaseStorage):
        for name, value in list(vars(cls).items()):
            if inspect.isfunction(value) and not name.startswith("_"):
                read = name.startswith(READ_PREFIXES)
                acc.wrap(cls, name, "storage_read" if read else "storage_write")
    for name in ("log", "backfill", "attach_models"):
        acc.wrap(TrialRecords, name, "mlflow")
    for name in ("submit", "wait", "result", "cancel"):
        acc.wrap(SimulatedCluster, name, "simulator")

    @event.listens_for(Engine, "before_cursor_execute")
    def count_sql(*args: Any) -> None:
        acc.counts["sql"] += 1

    http_request = rest_utils.http_request

    @functools.wraps(http_request)
    def counted(*args: Any, **kwargs: Any) -> Any:
        acc.counts["http"] += 1
        return http_request(*args, **kwargs)

    rest_utils.http_request = counted


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


class Recorder:
    """A snapshot of the accounts at each completion the loop reads."""

    def __init__(self, acc: Accountant) -> None:
        self.acc = acc
        self.snapshots: list[dict[str, Any]] = []

    def __call__(self, cluster: SimulatedCluster) -> None:
        snap = self.acc.snapshot()
        snap["asked"] = self.acc.counts.get("asked", 0)
        snap["rss"] = rss_bytes()
        self.snapshots.append(snap)


def _driver(snap: dict[str, Any], key: str) -> float:
    return sum(v for k, v in snap[key].items() if k != "simulator")


def window_stats(snaps: list[dict[str, Any]], end: int, window: int) -> dict[str, Any]:
    """Per trained trial over the `window` completions before snapshot `end`."""
    pairs = list(zip(snaps[end - window : end], snaps[end - window + 1 : end + 1], strict=True))
    wall = [_driver(b, "wall") - _driver(a, "wall") for a, b in pairs]
    cpu = [_driver(b, "cpu") - _driver(a, "cpu") for a, b in pairs]
    first, last = pairs[0][0], pairs[-1][1]
    per = {
        c: (last["wall"].get(c, 0.0) - first["wall"].get(c, 0.0)) / len(pairs) for c in CATEGORIES
    }
    counts = {
        k: (last["counts"].get(k, 0) - first["counts"].get(k, 0)) / len(pairs)
        for k in last["counts"]
    }
    return {
        "study_trials": last["asked"],
        "median_wall_s": statistics.median(wall),
        "mean_wall_s": statistics.fmean(wall),
        "median_cpu_s": statistics.median(cpu),
        "mean_cpu_s": statistics.fmean(cpu),
        "mean_wall_by_category_s": per,
        "sql_statements": counts.get("sql", 0.0),
        "http_requests": counts.get("http", 0.0),
        "rss_mb": last["rss"] / 2**20,
        "calls_per_trial": {
            k: round(v, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v
        },
    }


def utilisation(driver_s: float) -> dict[str, float]:
    return {
        f"{workers}x{trial_s:g}s": trial_s / (trial_s + driver_s * workers)
        for workers in WORKER_COUNTS
        for trial_s in TRIAL_SECONDS
    }


def run_one(args: argparse.Namespace, storage: str, folder: Path, acc: Accountant) -> dict:
    from slimtune.search import Progress, SearchSettings, run_search
    from slimtune.spaces import footprint

    with ExitStack() as stack:
        url = None
        if storage == "postgres":
            pg = stack.enter_context(postgres_server())
            os.environ.update(pg.env)
            url = pg.create_database("driver_scale")
        mlflow_uri = args.tracking_uri or stack.enter_context(
            mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "mlartifacts")
        )
        settings = SearchSettings.of(
            data_dir=str(_common.data_dir()) if _common.data_dir() else None,
            train_subset=args.train_subset,
            trials=args.trials,
            workers=args.workers,
            min_accuracy=args.min_accuracy,
            seed=args.seed,
            out=str(folder / "out"),
            study_name=f"driver-scale-{storage}",
            storage=url,
            tracking_uri=mlflow_uri,
            log_models="confirmed",
        )
        cluster = SimulatedCluster(
            args.workers,
            args.trial_s,
            lambda config: footprint(config, (28, 28, 1), 10).params,
            seed=args.seed,
        )
        recorder = Recorder(acc)
        acc.reset()
        cluster.on_completion = recorder
        started = time.perf_counter()
        cpu_started = time.process_time()
        rss_started = rss_bytes()
        try:
            run_search(settings, Progress(), executor=cluster)
            interrupted = False
        except KeyboardInterrupt:  # Ctrl-C: report the study sizes reached so far
            interrupted = True
        total_s = time.perf_counter() - started
        total_cpu_s = time.process_time() - cpu_started
    snaps = recorder.snapshots
    end = acc.snapshot()
    loop_end = snaps[-1] if snaps else end
    windows = []
    for size in args.sizes:
        index = next((i for i, s in enumerate(snaps) if s["asked"] >= size), None)
        if index is None and snaps and end["counts"].get("asked", 0) >= size:
            index = len(snaps) - 1  # the study reached `size` with trials decided untrained
        if index is None or index < 2:
            continue
        stats = window_stats(snaps, index, min(WINDOW, index))
        stats["size"] = size
        stats["utilisation"] = utilisation(stats["median_wall_s"])
        windows.append(stats)
    return {
        "storage": storage,
        "interrupted": interrupted,
        "trained": len(snaps),
        "asked": end["counts"].get("asked", 0),
        "total_s": total_s,
        "total_cpu_s": total_cpu_s,
        "end_of_search_s": _driver(end, "wall") - _driver(loop_end, "wall"),
        "rss_start_mb": rss_started / 2**20,
        "rss_end_mb": rss_bytes() / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "simulated_utilisation": cluster.utilisation(),
        "virtual_s": cluster.now_s,
        "windows": windows,
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"\n== {result['storage']}{' (interrupted)' if result['interrupted'] else ''}: "
        f"{result['asked']} trials asked, {result['trained']} trained; "
        f"{result['total_s']:.0f} s wall, {result['total_cpu_s']:.0f} s CPU; end of search "
        f"{result['end_of_search_s']:.1f} s; RSS {result['rss_start_mb']:.0f} -> "
        f"{result['rss_end_mb']:.0f} MB (peak {result['peak_rss_mb']:.0f}); simulated "
        f"utilisation {result['simulated_utilisation']:.1%} over {result['virtual_s']:.0f} "
        "virtual s"
    )
    header = "study  ms/trial (median mean | CPU median)  " + "  ".join(
        f"{c:>13}" for c in CATEGORIES
    )
    print(header + "   SQL/trial HTTP/trial  RSS MB")
    for w in result["windows"]:
        cats = "  ".join(f"{w['mean_wall_by_category_s'][c] * 1e3:13.1f}" for c in CATEGORIES)
        print(
            f"{w['size']:>5}  {w['median_wall_s'] * 1e3:8.1f} {w['mean_wall_s'] * 1e3:7.1f} | "
            f"{w['median_cpu_s'] * 1e3:7.1f}           {cats}   {w['sql_statements']:9.1f} "
            f"{w['http_requests']:10.1f}  {w['rss_mb']:6.0f}"
        )
    print("worker utilisation d / (d + c W), c = median ms/trial above:")
    print("study  " + "  ".join(f"{k:>9}" for k in utilisation(0.0)))
    for w in result["windows"]:
        print(f"{w['size']:>5}  " + "  ".join(f"{v:9.1%}" for v in w["utilisation"].values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--trial-s", type=float, default=30.0)
    parser.add_argument("--storage", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument(
        "--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[100, 1000, 10000]
    )
    parser.add_argument("--min-accuracy", type=float, default=0.97)
    parser.add_argument("--train-subset", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tracking-uri",
        help="record to this MLflow (e.g. sqlite:///m.db) instead of a server started here",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    storages = ["sqlite", "postgres"] if args.storage == "both" else [args.storage]
    if "postgres" in storages and postgres_bin_dir() is None:
        print("PostgreSQL is not installed here: SQLite only")
        storages = [s for s in storages if s != "postgres"] or ["sqlite"]
    # MLflow prints a "View run" link per run it ends: 1,000 lines of noise at this scale.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    machine = _common.machine()
    print(machine)
    acc = Accountant()
    instrument(acc)
    _count_asks(acc)
    results = []
    for storage in storages:
        with tempfile.TemporaryDirectory(prefix="driver-scale-") as folder:
            results.append(run_one(args, storage, Path(folder), acc))
        report(results[-1])
        _common.write_json(args.out, {"machine": machine, "args": vars(args), "runs": results})
        if results[-1]["interrupted"]:
            break


def _count_asks(acc: Accountant) -> None:
    """Trials in the study as the driver asked them (each `Study.ask` is one more trial)."""
    import optuna

    ask = optuna.Study.ask

    @functools.wraps(ask)
    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        acc.counts["asked"] += 1
        return ask(self, *args, **kwargs)

    optuna.Study.ask = counted  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
