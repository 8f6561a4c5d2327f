"""A soak outside CI: one study under kill -9, a lost Ray worker, an MLflow restart.

    python benchmarks/soak.py [--kills 10] [--trials 100] [--seed 0] [--kill-window-s 8]
                              [--ride-out-s 45] [--out DIR] [-- extra slimtune search flags]

One study, the real `slimtune search` CLI of this repository (`SEARCH_FLAGS` below, local Ray,
SQLite Optuna storage in DIR/study), tracked by a real `mlflow server` on 127.0.0.1 that this
script starts (its SQLite store and artifacts in DIR/mlflow). The same command is run over and
over:

- `--kills` times its whole process group is killed with SIGKILL at a random moment: most a
  uniform 0..`--kill-window-s` seconds after its first training started, every fourth one during
  its start-up (a uniform 20-100 % of the previous run's time to its first training), where it
  re-queues, back-fills MLflow and closes stale runs. What of the killed driver's local Ray
  outlives the group is killed too after 5 s, so that killed runs do not pile up on the CPUs
  (README: it would exit on its own within about a minute).
- In one of the first half of the killed runs (chosen at random) a Ray worker
  (`ray::train_task`) is killed mid-trial; Ray retries the task.
- In another the MLflow server's process group is stopped mid-study and started again on the
  same port and store. The driver is left running until it says it noticed the server is back
  (it retries every 30 s and writes what MLflow missed; at most `--ride-out-s` seconds), then
  killed like the others; the runs after it back-fill whatever is still missing.
- Then the same command runs once more and must finish (exit 0).

`--max-retries` is set to `--kills` + 2, so no interrupted configuration is dropped by design
(README: queued again at most --max-retries times): every queued configuration that never
completes is then a loss. Printed, and stored in DIR/soak.json, each must be 0:

- trials lost: completed (COMPLETE or PRUNED) trial numbers without a FINISHED MLflow child run,
  plus configurations a stop queued again (Optuna's retry lineage) with no completed trial;
- duplicates: trial numbers with more than one FINISHED child run, lineages completed twice,
  completed trials trained again (SLIMTUNE_FAULTS' record_to counts trainings; only trainings a
  kill cut short may repeat) and registry versions beyond one;
- runs left RUNNING in the study's MLflow experiment;
- runs that failed on their own (an exit that was neither 0 nor our SIGKILL).

Also printed: kills done, trials completed, wall time. Exits 1 if a figure is not 0, a fault was
not injected, or the final run failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
from support.processes import TINY_SPACE, cmdline, descendants
from support.services import free_port, stop_group, wait_for_health

STUDY = "soak"
SEARCH_FLAGS = [
    "--epochs",
    "1",
    "--train-subset",
    "1000",
    "--seeds",
    "1",
    "--workers",
    "2",
    "--min-accuracy",
    "0.3",
    "--learning-rate",
    "0.01",
]
REAP_AFTER_S = 5.0
STARTUP_TIMEOUT_S = 900.0  # a driver's time to its first training, on a loaded 2-core machine
# The driver's own notes (search/study/_records.py); "is unreachable ..." also says "when it
# answers again", so the second is matched with what follows it.
OUTAGE_NOTE, BACK_NOTE = "is unreachable; the study goes on", "answers again; writing"
FINAL_TIMEOUT_S = 3600.0


# --- processes ----------------------------------------------------------------------------------
def training_task(driver: subprocess.Popen) -> int | None:
    """A Ray worker of `driver` that is running a trial's training now."""
    return next(
        (p for p in descendants(driver.pid) if cmdline(p).startswith("ray::train_task")), None
    )


def kill_group(driver: subprocess.Popen) -> int:
    """SIGKILL the driver's process group; then whatever of its Ray outlived it. Returns how many
    processes outlived the group by REAP_AFTER_S."""
    family = {p: cmdline(p) for p in descendants(driver.pid)}
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    driver.wait()
    deadline = time.monotonic() + REAP_AFTER_S
    while time.monotonic() < deadline and any(cmdline(p) == c and c for p, c in family.items()):
        time.sleep(0.2)
    left = [p for p, c in family.items() if c and cmdline(p) == c]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(left)


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 that can be stopped and started again on the same
    port and store (services.mlflow_server picks a new port each time)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.folder / "server.log", "a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--backend-store-uri",
                    f"sqlite:///{self.folder / 'mlflow.db'}",
                    "--artifacts-destination",
                    str(self.folder / "artifacts"),
                    "--workers",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self) -> None:
        wait_for_health(self.uri, 300, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


# --- the soak -----------------------------------------------------------------------------------
@dataclass
class Record:
    """What the soak did, stored in soak.json as it goes (a partial record survives a crash)."""

    kills: list[dict[str, Any]] = field(default_factory=list)
    worker_kill: dict[str, Any] | None = None
    mlflow_restart: dict[str, Any] | None = None
    crashed: list[dict[str, Any]] = field(default_factory=list)
    finished_early: int | None = None  # the run that finished the study before its kill
    final: dict[str, Any] | None = None


@dataclass
class Soak:
    """The command under test, where it writes, and the MLflow server it reports to."""

    command: list[str]
    env: dict[str, str]
    out: Path
    server: MlflowServer
    rng: random.Random
    kill_window_s: float
    ride_out_s: float
    worker_at: int  # the first killed run (0-based) that also loses a Ray worker
    restart_at: int  # the first killed run that also sees an MLflow restart
    machine: dict[str, Any] = field(default_factory=_common.machine)
    record: Record = field(default_factory=Record)
    runs: int = 0

    def start_driver(self) -> tuple[subprocess.Popen, Path]:
        self.server.wait_healthy()  # a driver refuses to start while MLflow does not answer
        self.runs += 1
        log = self.out / "logs" / f"run-{self.runs:02d}.err"
        with open(log, "w") as stderr:
            driver = subprocess.Popen(
                self.command,
                cwd=_common.REPO,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        return driver, log


def wait(driver: subprocess.Popen, seconds: float, until=None) -> Any:
    """Wait `seconds`, less if the driver exits or `until()` returns something (returned)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and driver.poll() is None:
        found = until() if until else None
        if found:
            return found
        time.sleep(0.1)
    return None


@dataclass(frozen=True)
class Plan:
    """What one killed run goes through: where its kill lands, and which other fault it sees."""

    at_startup: bool
    kill_worker: bool
    restart_mlflow: bool


def plan(soak: Soak, index: int, startup_s: float | None) -> Plan:
    """The `index`-th kill's plan. A fault whose run ended before it is tried in the next run."""
    record = soak.record
    worker = index >= soak.worker_at and not (record.worker_kill or {}).get("pid")
    restart = index >= soak.restart_at and record.mlflow_restart is None
    return Plan(
        startup_s is not None and index % 4 == 3 and not (worker or restart), worker, restart
    )


def killed_run(
    soak: Soak, index: int, startup_s: float | None
) -> tuple[dict[str, Any], float | None]:
    """Run the command once and SIGKILL its process group at a random moment (plus the worker
    kill or the MLflow restart when it is their turn). Returns what happened and the run's time
    to its first training (None if not measured)."""
    todo = plan(soak, index, startup_s)
    driver, log = soak.start_driver()
    started = time.monotonic()
    event: dict[str, Any] = {
        "run": soak.runs,
        "log": log.name,
        "moment": "start-up" if todo.at_startup else "training",
    }
    try:
        if todo.at_startup:
            wait(driver, soak.rng.uniform(0.2, 1.0) * startup_s)
            startup_s = None
        else:
            wait(driver, STARTUP_TIMEOUT_S, lambda: training_task(driver))
            startup_s = time.monotonic() - started if driver.poll() is None else None
            if todo.kill_worker and driver.poll() is None:
                soak.record.worker_kill = kill_worker(driver, soak.rng) | {"run": soak.runs}
            if todo.restart_mlflow and driver.poll() is None:
                soak.record.mlflow_restart = restart_mlflow(soak, driver, log) | {"run": soak.runs}
            wait(driver, soak.rng.uniform(0, soak.kill_window_s))
    finally:  # also when the soak itself fails or is stopped: no driver left behind
        event["after_s"] = round(time.monotonic() - started, 1)
        if driver.poll() is None:
            event["outlived_the_group"] = kill_group(driver)
    event["exit"] = driver.returncode
    return event, startup_s


def kill_worker(driver: subprocess.Popen, rng: random.Random) -> dict[str, Any]:
    """SIGKILL a Ray worker of `driver` while it trains a trial (Ray retries the task)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        victim = training_task(driver)
        if victim:
            time.sleep(rng.uniform(0.2, 1.0))
            if cmdline(victim).startswith("ray::train_task"):  # still mid-trial
                os.kill(victim, signal.SIGKILL)
                return {"pid": victim}
        time.sleep(0.1)
    return {"pid": None}


def restart_mlflow(soak: Soak, driver: subprocess.Popen, log: Path) -> dict[str, Any]:
    """Stop the MLflow server's process group mid-study and start it again on the same port and
    store. With --ride-out-s the driver is left running after the server answers again, until it
    says it noticed (it retries every 30 s) or that many seconds passed."""
    stopped = time.monotonic()
    soak.server.stop()
    time.sleep(soak.rng.uniform(1.0, 5.0))
    soak.server.start()
    restart: dict[str, Any] = {}
    if soak.ride_out_s > 0:
        soak.server.wait_healthy()
        restart["down_s"] = round(time.monotonic() - stopped, 1)
        wait(driver, soak.ride_out_s, lambda: BACK_NOTE in log.read_text(errors="replace"))
    return restart | {"stopped_at_s": stopped, "log": log}


def restart_outcome(restart: dict[str, Any], server: MlflowServer) -> None:
    """Once the restarted server answers: how long it was away, what the driver said."""
    if "stopped_at_s" not in restart:
        return
    server.wait_healthy()
    stopped = restart.pop("stopped_at_s")
    restart.setdefault("down_s", round(time.monotonic() - stopped, 1))
    said = Path(restart.pop("log")).read_text(errors="replace")
    restart["log"] = f"run-{restart['run']:02d}.err"
    restart["driver_saw_the_outage"] = OUTAGE_NOTE in said
    restart["driver_saw_it_back"] = BACK_NOTE in said


def run_soak(soak: Soak, kills: int) -> None:
    """`kills` killed runs (one with a killed worker, one with an MLflow restart), then a final
    run that must finish."""
    record = soak.record
    startup_s: float | None = None
    in_a_row = 0
    while len(record.kills) < kills:
        event, startup_s = killed_run(soak, len(record.kills), startup_s)
        if record.mlflow_restart:
            restart_outcome(record.mlflow_restart, soak.server)
        if event["exit"] == -signal.SIGKILL:
            record.kills.append(event)
            in_a_row = 0
        elif event["exit"] == 0:
            record.finished_early = event["run"]  # the study is done: nothing left to kill
            break
        else:
            event["stderr_tail"] = (soak.out / "logs" / event["log"]).read_text()[-2000:]
            record.crashed.append(event)
            in_a_row += 1
            if in_a_row == 3:
                break
        _save(soak)
    driver, log = soak.start_driver()
    started = time.monotonic()
    try:
        code = driver.wait(timeout=FINAL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_group(driver)
        code = None
    record.final = {
        "run": soak.runs,
        "log": log.name,
        "exit": code,
        "wall_s": round(time.monotonic() - started, 1),
    }
    if code != 0:
        record.final["stderr_tail"] = log.read_text()[-2000:]
    _save(soak)


def _save(soak: Soak, **more: Any) -> None:
    _common.write_json(
        soak.out / "soak.json",
        {"machine": soak.machine, "command": soak.command, "record": soak.record.__dict__} | more,
    )


# --- what survived ------------------------------------------------------------------------------
@dataclass
class Seen:
    """The study and its MLflow records as the soak left them."""

    trials: list  # Optuna FrozenTrials
    done: set[int]  # COMPLETE or PRUNED trial numbers
    runs: list  # every MLflow run of the study's experiment
    trial_runs: list  # its child runs of trials
    client: Any
    experiment: Any
    trainings: list[tuple[int, str, str]]

    def run_counts(self, status: str | None = None) -> Counter:
        return Counter(
            int(r.data.tags["slimtune.trial_number"])
            for r in self.trial_runs
            if status is None or r.info.status == status
        )

    def lineages(self) -> dict[int, list]:
        """Trials by the first of their retries (Optuna's retry callback keeps its number)."""
        found: dict[int, list] = {}
        for trial in self.trials:
            found.setdefault(trial.system_attrs.get("failed_trial", trial.number), []).append(trial)
        return dict(sorted(found.items()))


def look(study_dir: Path, tracking_uri: str, trained_log: Path) -> Seen:
    import mlflow
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{study_dir / 'optuna.db'}")
    trials = study.get_trials(deepcopy=False)
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([experiment.experiment_id], max_results=50000) if experiment else []
    return Seen(
        trials,
        {t.number for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)},
        runs,
        [r for r in runs if r.data.tags.get("slimtune.role") == "trial"],
        client,
        experiment,
        _trainings(trained_log),
    )


def problems(seen: Seen, result_json: Path, killed_worker: int | None) -> dict[str, Any]:
    """Each problem found, by kind: every one must be empty."""
    from optuna.trial import TrialState

    def stopped(t: Any) -> bool:
        return t.state in (TrialState.WAITING, TrialState.RUNNING) or (
            t.state == TrialState.FAIL and bool(t.user_attrs.get("interrupted"))
        )

    finished, done = seen.run_counts("FINISHED"), seen.done
    return {
        "completed_without_a_finished_run": sorted(n for n in done if not finished[n]),
        "queued_never_completed": {
            root: [f"{t.number} {t.state.name}" for t in group]
            for root, group in seen.lineages().items()
            if any(map(stopped, group)) and not any(t.number in done for t in group)
        },
        "trial_numbers_with_several_finished_runs": sorted(n for n, c in finished.items() if c > 1),
        "lineages_completed_twice": {
            root: [t.number for t in group if t.number in done]
            for root, group in seen.lineages().items()
            if sum(t.number in done for t in group) > 1
        },
        "completed_trials_trained_again": _trained_again(
            seen.trials, done, seen.trainings, killed_worker
        ),
        "registry_versions_beyond_one": _extra_versions(seen.client, result_json),
        "runs_left_running": sorted(
            r.info.run_name or r.info.run_id for r in seen.runs if r.info.status == "RUNNING"
        ),
    }


def counts(seen: Seen, killed_worker: int | None, result_json: Path) -> dict[str, Any]:
    """What the study holds; the last five are shown, not counted in the figures."""
    from optuna.trial import TrialState

    any_run = seen.run_counts()
    kinds = Counter(kind for _, kind, _ in seen.trainings)
    return {
        "trials_completed": len(seen.done),
        "trials_in_study": len(seen.trials),
        "trial_states": dict(Counter(t.state.name for t in seen.trials)),
        "trial_trainings": kinds["trial"],
        "confirmation_trainings": kinds["confirm"],
        "child_runs": Counter(r.info.status for r in seen.trial_runs),
        "parent_runs": Counter(
            r.info.status for r in seen.runs if r.data.tags.get("slimtune.role") == "study"
        ),
        "killed_worker_trained": _victim_training(seen.trainings, killed_worker),
        "failed_trials_without_a_run": sorted(
            t.number
            for t in seen.trials
            if t.state == TrialState.FAIL and "config" in t.user_attrs and not any_run[t.number]
        ),
        "trial_numbers_with_several_runs": sorted(n for n, c in any_run.items() if c > 1),
        "trained_front_trials_without_a_model": _without_model(seen, result_json),
        # a retry that inherited the stop that queued it (fixed in search/study/_open.py)
        "completed_trials_with_a_stop_reason": sorted(
            t.number
            for t in seen.trials
            if t.number in seen.done
            and (t.user_attrs.get("interrupted") or "fail_reason" in t.user_attrs)
        ),
    }


def _without_model(seen: Seen, result_json: Path) -> list[int]:
    """COMPLETE trials on the final front (result.json; --log-models front, the default, logs
    only theirs) that trained (not a duplicate's reuse) whose FINISHED run has no READY logged
    model: the model was lost (a kill between Optuna's tell and the spool, say)."""
    from optuna.trial import TrialState

    if seen.experiment is None or not result_json.exists():
        return []
    front = {p["trial_number"] for p in json.loads(result_json.read_text())["front"]}
    with_model, token = set(), None
    while True:
        page = seen.client.search_logged_models(
            [seen.experiment.experiment_id], max_results=1000, page_token=token
        )
        with_model |= {m.source_run_id for m in page if str(m.status).endswith("READY")}
        token = page.token
        if not token:
            break
    run_of = {
        int(r.data.tags["slimtune.trial_number"]): r.info.run_id
        for r in seen.trial_runs
        if r.info.status == "FINISHED"
    }
    return sorted(
        t.number
        for t in seen.trials
        if t.state == TrialState.COMPLETE
        and t.number in front
        and "duplicate_of" not in t.user_attrs
        and t.number in run_of
        and run_of[t.number] not in with_model
    )


def _trainings(trained_log: Path) -> list[tuple[int, str, str]]:
    """(worker pid, 'trial' or 'confirm', summary) of every training started (record_to)."""
    lines = trained_log.read_text().splitlines() if trained_log.exists() else []
    return [
        (int(pid), kind, summary)
        for pid, kind, summary in (line.split(" ", 2) for line in lines if line.count(" ") >= 2)
    ]


def _victim_training(trainings: list[tuple[int, str, str]], pid: int | None) -> list[str]:
    """The trial the killed worker was training: the last it started (a worker trains many)."""
    mine = [s for worker, kind, s in trainings if worker == pid and kind == "trial"]
    return mine[-1:]


def _trained_again(
    trials: list, done: set[int], trainings: list[tuple[int, str, str]], killed_worker: int | None
) -> dict[str, int]:
    """Configurations trained more often than their completed trials, the trainings a stop cut
    short (failed trials) and the killed worker's (Ray retried it) explain."""
    from optuna.trial import TrialState

    allowed = Counter(
        t.user_attrs["summary"]
        for t in trials
        if "summary" in t.user_attrs
        and (
            t.state == TrialState.FAIL or (t.number in done and "duplicate_of" not in t.user_attrs)
        )
    )
    allowed.update(_victim_training(trainings, killed_worker))
    trained = Counter(s for _, kind, s in trainings if kind == "trial")
    return {s: n - allowed[s] for s, n in sorted(trained.items()) if n > allowed[s]}


def _extra_versions(client: Any, result_json: Path) -> list[str]:
    """Versions of the registered model beyond the one result.json names."""
    if not result_json.exists():
        return []
    mlflow_part = json.loads(result_json.read_text()).get("mlflow") or {}
    name = mlflow_part.get("registered_model_name")
    if not name:
        return []
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    return [str(v) for v in versions if v != mlflow_part.get("registered_model_version")]


FIGURES = {  # printed figure -> the problem lists it sums
    "trials lost": ("completed_without_a_finished_run", "queued_never_completed"),
    "duplicates": (
        "trial_numbers_with_several_finished_runs",
        "lineages_completed_twice",
        "completed_trials_trained_again",
        "registry_versions_beyond_one",
    ),
    "runs left RUNNING": ("runs_left_running",),
}


def figures(problems: dict[str, Any], record: Record) -> dict[str, int]:
    sizes = {
        k: sum(v.values()) if k == "completed_trials_trained_again" else len(v)
        for k, v in problems.items()
    }
    result = {name: sum(sizes[k] for k in keys) for name, keys in FIGURES.items()}
    result["runs failed on their own"] = len(record.crashed)
    return result


# --- main ---------------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="driver kills (at least 2)")
    parser.add_argument(
        "--trials",
        type=int,
        default=100,
        help="enough that the study outlasts the kills: the MLflow restart's "
        "ride-out alone can finish 30 or more (BENCHMARKS.md, the soak)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the search's --seed and the seed of the kill moments"
    )
    parser.add_argument(
        "--kill-window-s",
        type=float,
        default=8.0,
        help="a mid-training kill lands 0..this many seconds after the run's "
        "first training started",
    )
    parser.add_argument(
        "--ride-out-s",
        type=float,
        default=45.0,
        help="after the MLflow restart, leave the driver running until it "
        "notices the server is back (or this many seconds); 0: kill it "
        "0..--kill-window-s after the server was started again",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="an empty or new folder [default: runs/benchmarks/soak/<UTC time>]",
    )
    parser.add_argument("extra", nargs="*", help="more `slimtune search` flags, after --")
    args = parser.parse_args(argv)
    if args.kills < 2:
        parser.error(
            f"--kills {args.kills}: use 2 or more (the killed worker and the MLflow "
            "restart happen in two different killed runs)"
        )
    if args.trials < 1 or args.kill_window_s <= 0 or args.ride_out_s < 0:
        parser.error("--trials and --kill-window-s must be positive, --ride-out-s 0 or more")
    if args.out is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        args.out = Path("runs/benchmarks/soak") / stamp
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(
            f"--out {args.out}: holds files already; a soak starts a fresh study, so "
            "choose a new or empty folder"
        )
    return args


def search_command(args: argparse.Namespace, out: Path, tracking_uri: str) -> list[str]:
    space = out / "space.toml"
    space.write_text(TINY_SPACE)
    data = ["--data-dir", str(_common.data_dir())] if _common.data_dir() else []
    return [
        sys.executable,
        "-m",
        "slimtune",
        "search",
        *data,
        "--space",
        str(space),
        "--trials",
        str(args.trials),
        *SEARCH_FLAGS,
        "--seed",
        str(args.seed),
        "--max-retries",
        str(args.kills + 2),
        "--study-name",
        STUDY,
        "--out",
        str(out / "study"),
        "--tracking-uri",
        tracking_uri,
        *args.extra,
    ]


def missing_faults(record: Record, counts: dict[str, Any], kills: int) -> list[str]:
    """The faults that were asked for and did not happen (then the soak proves less)."""
    missing = []
    if len(record.kills) < kills:
        why = (
            f"the study finished in run {record.finished_early}; raise --trials or lower "
            "--kill-window-s"
            if record.finished_early
            else "runs failed on their own"
        )
        missing.append(f"only {len(record.kills)} of {kills} kills: {why}")
    if not (record.worker_kill or {}).get("pid") or not counts["killed_worker_trained"]:
        missing.append("no Ray worker was killed while it trained a trial")
    if not record.mlflow_restart or "down_s" not in record.mlflow_restart:
        missing.append("the MLflow server was not restarted")
    return missing


def report(record: Record, found: dict[str, Any], wall_s: float) -> None:
    counts, kills = found["counts"], record.kills
    at_startup = sum(k["moment"] == "start-up" for k in kills)
    worker, restart = record.worker_kill or {}, record.mlflow_restart or {}
    print(
        f"kills of the driver's process group: {len(kills)} ({at_startup} in start-up, "
        f"{len(kills) - at_startup} mid-training)"
    )
    print(
        f"Ray worker killed mid-trial: pid {worker.get('pid')} in run {worker.get('run')}, "
        f"training {', '.join(counts['killed_worker_trained']) or 'nothing'}"
    )
    print(
        f"MLflow server restarted in run {restart.get('run')}: away {restart.get('down_s')} s; "
        f"the driver saw the outage: {restart.get('driver_saw_the_outage')}, saw it back: "
        f"{restart.get('driver_saw_it_back')}"
    )
    final = record.final or {}
    print(f"final run: exit {final.get('exit')} in {final.get('wall_s')} s")
    print(
        f"trials completed: {counts['trials_completed']} ({counts['trials_in_study']} in the "
        f"study: {json.dumps(counts['trial_states'])})"
    )
    print(
        f"trainings: {counts['trial_trainings']} of trials, "
        f"{counts['confirmation_trainings']} of confirmations; child runs "
        f"{json.dumps(counts['child_runs'])}; parent runs {json.dumps(counts['parent_runs'])}"
    )
    print(f"wall time: {wall_s:.0f} s")
    for kind, items in found["problems"].items():
        if items:
            print(f"  {kind}: {json.dumps(items)}")
    for name, value in found["figures"].items():
        print(f"{name}: {value}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    faults = out / "faults.json"
    faults.write_text(json.dumps({"record_to": str(out / "trained.log")}))
    server = MlflowServer(out / "mlflow")
    env = {
        **os.environ,
        "SLIMTUNE_FAULTS": str(faults),
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_common.REPO), os.environ.get("PYTHONPATH")])
        ),
    }
    rng = random.Random(args.seed)
    # In the first half of the kills, so the study still has trials left to ride them out.
    worker_at, restart_at = rng.sample(range(max(2, args.kills // 2)), 2)
    soak = Soak(
        search_command(args, out, server.uri),
        env,
        out,
        server,
        rng,
        args.kill_window_s,
        args.ride_out_s,
        worker_at,
        restart_at,
    )
    print(" ".join(soak.command), flush=True)
    try:
        server.start()
        run_soak(soak, args.kills)
        seen = look(out / "study", server.uri, out / "trained.log")
        victim = (soak.record.worker_kill or {}).get("pid")
        found = {
            "problems": problems(seen, out / "study" / "result.json", victim),
            "counts": counts(seen, victim, out / "study" / "result.json"),
        }
    finally:
        server.stop()
    wall_s = time.monotonic() - started
    found["figures"] = figures(found["problems"], soak.record)
    found["missing_faults"] = missing_faults(soak.record, found["counts"], args.kills)
    found["counts"] |= {"kills": len(soak.record.kills), "wall_s": round(wall_s, 1)}
    _save(soak, **found)
    report(soak.record, found, wall_s)
    for line in found["missing_faults"]:
        print(f"not injected: {line}")
    ok = (
        not any(found["figures"].values())
        and not found["missing_faults"]
        and (soak.record.final or {}).get("exit") == 0
    )
    print(f"soak {'passed' if ok else 'FAILED'}; figures in {out / 'soak.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
