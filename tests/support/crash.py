"""What crash-safety tests share: the CLI started in the background, the process tree under a pid
(to find and kill a Ray task's worker), the record of what was trained (`SLIMTUNE_FAULTS`
`record_to`), and the check that each trial has exactly one MLflow child run."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from support.cli import ROOT, SLIMTUNE
from support.processes import alive, cmdline, descendants  # noqa: F401 (shared here)


def start(args: list, tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    """Start the real CLI in the background; its stderr goes to <tmp_path>/<name>.err."""
    stderr = open(tmp_path / f"{name}.err", "w")
    return subprocess.Popen(
        [*SLIMTUNE, *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, **env},
        start_new_session=True,
    )


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def completed(study) -> dict[int, tuple]:
    from optuna.trial import TrialState

    return {
        t.number: (t.values, t.datetime_complete)
        for t in study.trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    }


def experiment_runs(tracking_uri: str, experiment_name: str) -> list:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    return client.search_runs([experiment.experiment_id], max_results=10000) if experiment else []


def assert_one_run_per_trial(study, runs: list) -> None:
    """Exactly one child run per trial number: FINISHED if it finished, KILLED/FAILED if not."""
    from optuna.trial import TrialState

    trial_runs = [r for r in runs if r.data.tags.get("slimtune.role") == "trial"]
    by_number = Counter(int(r.data.tags["slimtune.trial_number"]) for r in trial_runs)
    # A trial without a recorded configuration never started (the driver died right after
    # Optuna's ask): no run.
    states = {
        t.number: t.state
        for t in study.trials
        if t.state.is_finished() and "config" in t.user_attrs
    }
    assert by_number == Counter(states.keys()), (by_number, states)
    for run in trial_runs:
        state = states[int(run.data.tags["slimtune.trial_number"])]
        wanted = {"FINISHED"} if state != TrialState.FAIL else {"KILLED", "FAILED"}
        assert run.info.status in wanted, (run.data.tags, run.info.status)
    assert not [r for r in runs if r.info.status == "RUNNING"], "a run was left RUNNING"


def trainings(trained: Path, kind: str = "trial") -> Counter:
    """How often each configuration summary was trained, from the `record_to` file."""
    lines = trained.read_text().split("\n") if trained.exists() else []
    return Counter(line.split(" ", 2)[2] for line in lines if line.split(" ")[1:2] == [kind])


def trained_by(trained: Path, pid: int, kind: str = "trial") -> set[str]:
    """The summaries the training task in process `pid` recorded."""
    lines = trained.read_text().split("\n") if trained.exists() else []
    return {line.split(" ", 2)[2] for line in lines if line.startswith(f"{pid} {kind} ")}
