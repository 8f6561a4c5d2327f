"""TrialRecords under each --log-models value, on a real MLflow store (SQLite) and a real Optuna
study: which runs get a model, when, and what stays in the spool."""

from __future__ import annotations

import optuna
import pytest

from slimtune.search import Progress
from slimtune.search.study import TrialRecords
from slimtune.trackers import MlflowTracker

TRIALS = 3
FRONT = {1}


def finished_trials() -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for number in range(TRIALS):
        study.add_trial(
            optuna.trial.create_trial(
                values=[0.9, 100 + number],
                user_attrs={
                    "config": {"hypermodel": "m:build", "values": {"units": number}},
                    "summary": f"units={number}",
                    "seeds": [0],
                    "val_accuracies": [0.9],
                    "footprint": {"params": 100 + number},
                },
            )
        )
    return study.trials


def models_by_trial(tracker: MlflowTracker) -> dict[int, int]:
    """Trial number -> READY logged models of its run."""
    runs = tracker.trial_run_ids(tracker.experiment_name)
    logged = tracker.client.search_logged_models([tracker.experiment_id])
    return {
        number: sum(m.source_run_id == run_id and str(m.status).endswith("READY") for m in logged)
        for number, run_id in runs.items()
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the module (creating one costs seconds); a study per test."""
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def records(store, tmp_path, mode: str) -> TrialRecords:
    uri, artifacts = store
    study = tmp_path.name  # unique per test
    tracker = MlflowTracker(uri, study, artifact_location=artifacts)
    tracker.start_parent("search", {}, {"study": study})
    return TrialRecords(tracker, study, tmp_path / "spool", Progress(), log_models=mode)


@pytest.mark.parametrize(
    "mode, at_once, at_end",
    [
        ("all", {0: 1, 1: 1, 2: 1}, {0: 1, 1: 1, 2: 1}),
        ("front", {0: 0, 1: 0, 2: 0}, {0: 0, 1: 1, 2: 0}),
        ("confirmed", {0: 0, 1: 0, 2: 0}, {0: 0, 1: 0, 2: 0}),
    ],
)
def test_each_mode_logs_the_models_it_names(store, tmp_path, tiny_model, mode, at_once, at_end):
    recorder = records(store, tmp_path, mode)
    for trial in finished_trials():
        recorder.log(trial, tiny_model)
    assert models_by_trial(recorder.tracker) == at_once
    spooled = sorted(p.name for p in (tmp_path / "spool").glob("*.keras"))
    # front keeps every model until the end (crash-safe); the others need none there
    assert spooled == ([f"trial-{n}.keras" for n in range(TRIALS)] if mode == "front" else [])
    recorder.attach_models(FRONT)
    recorder.attach_models(FRONT)  # a resumed search repeats it: nothing is logged twice
    assert models_by_trial(recorder.tracker) == at_end
    assert not list((tmp_path / "spool").glob("*.keras"))


def test_a_resume_under_all_attaches_what_front_left_spooled(store, tmp_path, tiny_model):
    """--log-models front killed before the end, resumed with --log-models all: every spooled
    model reaches its run, none twice."""
    killed = records(store, tmp_path, "front")
    for trial in finished_trials():
        killed.log(trial, tiny_model)
    resumed = records(store, tmp_path, "all")
    assert resumed.logged == set(range(TRIALS))  # read back from MLflow
    resumed.attach_models(range(TRIALS))
    assert models_by_trial(resumed.tracker) == {0: 1, 1: 1, 2: 1}
    assert not list((tmp_path / "spool").glob("*.keras"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> bytes:
    from slimtune.spaces import CNNConfig, ConvBlock, build_model

    path = tmp_path_factory.mktemp("model") / "m.keras"
    build_model(CNNConfig((ConvBlock(3, 1, 4),), "gap"), (28, 28, 1), 10).save(path)
    return path.read_bytes()
