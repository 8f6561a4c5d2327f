"""A real search in which racing/early stopping and unbuildable 'valid' configurations prune
trials: what Optuna, MLflow and result.json say about them."""

from __future__ import annotations

import json

import pytest

from support.cli import run_cli

pytestmark = pytest.mark.integration

# Three 7x7 blocks with pool 4: all-'valid' stacks cannot be built on 28x28; 'same' ones can.
SPACE = """
blocks = [3, 3]
kernel_size = [7]
filters = [2, 4]
pool = [4]
padding = ["same", "valid"]
head = ["gap"]
dense_units = [8, 8]
dense_optional = true
dropout = [0.0]
"""


def test_out_of_reach_floor_prunes_trials_after_the_first_seed(tmp_path, mnist_dir):
    import mlflow
    import optuna

    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "out"
    done = run_cli(
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space,
        "--trials",
        6,
        "--epochs",
        2,
        "--train-subset",
        500,
        "--seeds",
        2,
        "--workers",
        1,
        "--min-accuracy",
        0.995,
        "--out",
        out,
        "--study-name",
        "estest",
        "--sampler",
        "random",
        "--initial-design",
        "random",  # the design queues buildable configurations only; this test wants both
    )
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="estest", storage=f"sqlite:///{out / 'optuna.db'}")
    reasons = [t.user_attrs.get("prune_reason", "") for t in study.trials]
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    stopped = [t for t in study.trials if t.user_attrs["prune_reason"].startswith("stopped early")]
    unbuildable = [r for r in reasons if r.startswith("cannot be built: ") and "does not fit" in r]
    assert stopped and unbuildable and len(stopped) + len(unbuildable) == 6, reasons
    for trial in stopped:
        if "duplicate_of" in trial.user_attrs:
            continue
        # Racing: the first seed alone could not reach 0.995, so the second never trained.
        assert trial.user_attrs["seeds"] == [0] and len(trial.user_attrs["val_accuracies"]) == 1
        # the floor plus its margin on 5,000 validation images: 1.645 * sqrt(0.995 * 0.005 / 5000)
        assert trial.user_attrs["required_accuracy"] == pytest.approx(0.99664, abs=1e-5)
        assert trial.user_attrs["epochs_run"] == 2  # cosine schedule: judged after its last epoch
        assert trial.constraints["accuracy_floor"] > 0
    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("estest")
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`slimtune.role` = 'trial'", max_results=100
    )
    assert len(runs) == 6
    for run in runs:
        assert run.data.tags["slimtune.state"] == "PRUNED"
        assert run.data.tags["slimtune.reason"].startswith(("stopped early", "cannot be built"))
        assert "val_accuracy_seed_1" not in run.data.metrics
    result = json.loads((out / "result.json").read_text())
    assert result["chosen"] is None and result["study"]["n_pruned"] == 6
