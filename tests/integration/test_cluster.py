"""A real 2-node Ray cluster on 127.0.0.1 (token authentication on): an interactive search with
--ray-address, the same search submitted as a Ray Job with `slimtune submit`, and a search that
loses the worker node mid-trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.cli import run_cli
from support.crash import (
    assert_one_run_per_trial,
    cmdline,
    descendants,
    experiment_runs,
    start,
    trained_by,
    trainings,
    wait_for,
)
from support.services import ray_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    """Head and worker node, one CPU each; the head serves the dashboard (Jobs API) on 127.0.0.1."""
    with ray_cluster([1, 1], dashboard=True) as started:
        yield started


def search_flags(mnist_dir, space_file, out, trials) -> list:
    return [
        "--data-dir",
        mnist_dir,
        "--space",
        space_file,
        "--trials",
        trials,
        "--epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--learning-rate",
        0.01,
        "--min-accuracy",
        0.3,
        "--workers",
        2,
        "--out",
        out,
        "--study-name",
        "cluster",
        "--no-early-stopping",
    ]


def trial_nodes(out: Path) -> list[str]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cluster")
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`slimtune.role` = 'trial'", max_results=100
    )
    return [r.data.tags["slimtune.ray_node_id"] for r in runs]


def raylet_node_id(node: subprocess.Popen) -> str:
    """The Ray node id of the node that the `ray start` process `node` runs (its raylet's flag)."""
    for pid in descendants(node.pid):
        args = cmdline(pid).split()
        if args and args[0].endswith("/raylet"):
            return next(a.removeprefix("--node_id=") for a in args if a.startswith("--node_id="))
    raise AssertionError(f"no raylet under the `ray start` process {node.pid}")


# First in the module on purpose: the module's shared cluster starts with the first test that
# uses it, so this test's own cluster (which it breaks) does not compete with an idle second one.
def test_a_node_lost_mid_trial_is_retried_on_the_other_node(mnist_dir, space_file, tmp_path):
    """SIGKILL every process of the worker node (raylet, its workers, agents) while it trains a
    trial: Ray retries the task on the head, where the driver's node is, and the study completes
    with one child run per trial."""
    import optuna
    from optuna.trial import TrialState

    out = tmp_path / "out"
    trained = tmp_path / "trained.log"
    # Each task pauses 5 s after its record, so the kill lands inside it however fast training
    # is; every trial trains (no focus pruning, no early stopping), so all must end COMPLETE.
    (tmp_path / "faults.json").write_text(json.dumps({"record_to": str(trained), "pause_s": 5}))
    args = [
        "search",
        *search_flags(mnist_dir, space_file, out, 3),
        "--epochs",
        3,
        "--train-subset",
        3000,
        "--no-focus",
    ]
    with ray_cluster([1, 1]) as cluster:
        head, worker = cluster.processes
        head_node_id = raylet_node_id(head)
        env = {**cluster.env, "SLIMTUNE_FAULTS": str(tmp_path / "faults.json")}
        driver = start([*args, "--ray-address", cluster.address], tmp_path, env, "node-lost")
        try:
            victim = wait_for(
                lambda: next(
                    (
                        p
                        for p in descendants(worker.pid)
                        if cmdline(p).startswith("ray::train_task")
                    ),
                    None,
                ),
                240,
                "a training task on the worker node",
            )
            # Its task has begun training once it recorded its configuration.
            killed = wait_for(lambda: trained_by(trained, victim), 60, "the task's record")
            whole_node = [worker.pid, *descendants(worker.pid)]
            os.killpg(worker.pid, signal.SIGKILL)
            for pid in whole_node:  # also any that left the `ray start` process group
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            worker.wait(timeout=30)
            assert driver.wait(timeout=400) == 0, (tmp_path / "node-lost.err").read_text()
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
                driver.wait()
    study = optuna.load_study(study_name="cluster", storage=f"sqlite:///{out / 'optuna.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3, [
        (t.state, t.user_attrs.get("fail_reason")) for t in study.trials
    ]
    # The killed trial was trained again, on the head.
    assert all(trainings(trained)[summary] >= 2 for summary in killed)
    retried = [t for t in study.trials if t.user_attrs["summary"] in killed]
    assert retried and all(t.user_attrs["ray_node_id"] == head_node_id for t in retried)
    runs = experiment_runs(f"sqlite:///{out / 'mlflow.db'}", "cluster")
    assert_one_run_per_trial(study, runs)
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["n_complete"] == 3


def test_a_search_runs_its_trials_on_both_nodes(cluster, mnist_dir, space_file, tmp_path):
    out = tmp_path / "out"
    done = run_cli(
        "search",
        *search_flags(mnist_dir, space_file, out, 4),
        "--ray-address",
        cluster.address,
        env=cluster.env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == 4
    assert result["front"] and result["baseline"]["footprint"]["params"] == 3_274_634
    nodes = trial_nodes(out)
    assert len(nodes) == 4 and all(nodes)
    # Two 1-CPU nodes and two trials at a time: both nodes trained (data came through the
    # object store; the worker node never reads the data folder).
    assert len(set(nodes)) == 2, nodes


def test_submit_runs_the_search_as_a_ray_job(cluster, mnist_dir, space_file, tmp_path):
    out = tmp_path / "job"
    done = run_cli(
        "submit",
        "--address",
        cluster.dashboard_url,
        "--",
        *search_flags(mnist_dir, space_file, out, 2),
        env=cluster.env,
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 400
    state = ""
    while time.monotonic() < deadline:
        state = run_cli(
            "status", job_id, "--address", cluster.dashboard_url, env=cluster.env
        ).stdout
        if state.startswith(("SUCCEEDED", "FAILED", "STOPPED")):
            break
        time.sleep(3)
    logs = run_cli("logs", job_id, "--address", cluster.dashboard_url, env=cluster.env)
    assert state.startswith("SUCCEEDED"), state + logs.stdout[-3000:]
    assert "trials: " in logs.stdout and "result: " in logs.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == 2
    assert all(trial_nodes(out))


def test_job_commands_refuse_an_unknown_job_in_one_line(cluster):
    done = run_cli("status", "no-such-job", "--address", cluster.dashboard_url, env=cluster.env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"slimtune: error: job 'no-such-job' is not known to "
        f"{cluster.dashboard_url}; list the jobs with `ray job list`"
    )
