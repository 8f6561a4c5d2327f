"""A real 2-node Ray cluster on 127.0.0.1 (token authentication on): an interactive search with
--ray-address, and the same search submitted as a Ray Job with `slimtune submit`."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from support.cli import run_cli
from search.testing.services import ray_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    """Head and worker node, one CPU each; the head serves the dashboard (Jobs API) on 127.0.0.1."""
    with ray_cluster([1, 1], dashboard=True) as started:
        yield started


def search_flags(mnist_dir, space_file, out, trials) -> list:
    return ["--data-dir", mnist_dir, "--space", space_file, "--trials", trials, "--epochs", 1,
            "--train-subset", 1000, "--seeds", 1, "--learning-rate", 0.01, "--min-accuracy", 0.3,
            "--workers", 2, "--out", out, "--study-name", "cluster", "--no-early-stopping"]


def trial_nodes(out: Path) -> list[str]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cluster")
    runs = client.search_runs([experiment.experiment_id], "tags.`slimtune.role` = 'trial'",
                              max_results=100)
    return [r.data.tags["slimtune.ray_node_id"] for r in runs]


def test_a_search_runs_its_trials_on_both_nodes(cluster, mnist_dir, space_file, tmp_path):
    out = tmp_path / "out"
    done = run_cli("search", *search_flags(mnist_dir, space_file, out, 4), "--ray-address",
                   cluster.address, env=cluster.env)
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
    done = run_cli("submit", "--address", cluster.dashboard_url, "--",
                   *search_flags(mnist_dir, space_file, out, 2), env=cluster.env)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 400
    state = ""
    while time.monotonic() < deadline:
        state = run_cli("status", job_id, "--address", cluster.dashboard_url,
                        env=cluster.env).stdout
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
    assert done.stderr.strip() == (f"slimtune: error: job 'no-such-job' is not known to "
                                   f"{cluster.dashboard_url}; list the jobs with `ray job list`")
