"""MlflowTracker against a real `mlflow server`: what a resumed driver does with the runs a dead
driver left RUNNING."""

from __future__ import annotations

import pytest

from slimtune.trackers._mlflow import TAG_PREFIX, MlflowTracker
from support.services import mlflow_server

STUDY = "stale"


class DriverKilled(BaseException):
    """Stands in for SIGKILL at one exact point: nothing after it runs."""


def die_before_set_terminated(tracker: MlflowTracker) -> None:
    def set_terminated(run_id, status=None, end_time=None):
        raise DriverKilled

    tracker.client.set_terminated = set_terminated


def test_runs_left_running_end_with_the_status_they_were_meant_to_have(tmp_path):
    with mlflow_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts") as uri:
        dead = MlflowTracker(uri, STUDY)
        dead.start_parent("study", {}, {"study": STUDY})
        die_before_set_terminated(dead)
        # Killed after the run was written in full, before its status was set: FINISHED and
        # FAILED trials must not come back as KILLED (the study says they finished).
        for number, status in [(0, "FINISHED"), (1, "FAILED")]:
            with pytest.raises(DriverKilled):
                dead.log_trial(
                    number, f"trial-{number}", {"x": number}, {"m": 1.0}, {"study": STUDY}, status
                )
        # Killed mid-log: no `logged` tag, so it is dropped by logged_trial_numbers, not ended.
        half = dead.client.create_run(
            dead.experiment_id,
            run_name="trial-2",
            tags={
                f"{TAG_PREFIX}study": STUDY,
                f"{TAG_PREFIX}role": "trial",
                f"{TAG_PREFIX}trial_number": "2",
            },
        ).info.run_id

        resumed = MlflowTracker(uri, STUDY)
        assert resumed.logged_trial_numbers(STUDY) == {0, 1}
        assert resumed.close_stale_runs(STUDY) == 3  # the two trials and the dead parent
        runs = resumed.client.search_runs([resumed.experiment_id])
        status = {r.info.run_name: r.info.status for r in runs}
        assert status == {"study": "KILLED", "trial-0": "FINISHED", "trial-1": "FAILED"}
        assert resumed.client.get_run(half).info.lifecycle_stage == "deleted"
        assert resumed.close_stale_runs(STUDY) == 0


def test_trial_runs_carry_real_timestamps_and_per_epoch_curves(tmp_path):
    """The MLflow compare view draws a metric with steps; one logged at step 0 with timestamp 0
    shows as a single point dated 1970."""
    import time

    started = int(time.time() * 1000)
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", STUDY)
    tracker.start_parent("study", {}, {"study": STUDY})
    run_id = tracker.log_trial(
        0,
        "trial-0",
        {"x": 1},
        {"worst_case_val_accuracy": 0.9},
        {},
        "FINISHED",
        curves={
            "epoch_val_accuracy_seed_0": [0.5, 0.8, 0.9],
            "epoch_val_accuracy_seed_1": [0.6, 0.7],
        },
    )
    history = tracker.client.get_metric_history(run_id, "epoch_val_accuracy_seed_0")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.8), (3, 0.9)]
    assert len(tracker.client.get_metric_history(run_id, "epoch_val_accuracy_seed_1")) == 2
    (final,) = tracker.client.get_metric_history(run_id, "worst_case_val_accuracy")
    assert started <= final.timestamp <= int(time.time() * 1000)
    assert all(m.timestamp >= started for m in history)


def tiny_model_bytes(folder) -> bytes:
    from slimtune.spaces import CNNConfig, ConvBlock, build_model

    path = folder / "m.keras"
    build_model(CNNConfig((ConvBlock(3, 1, 4),), "gap"), (28, 28, 1), 10).save(path)
    return path.read_bytes()


def test_the_champion_is_registered_once_by_its_logged_model_with_a_card(tmp_path, monkeypatch):
    import mlflow

    # Another store is the process-wide default: the registry must still use the tracker's.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    tracker = MlflowTracker(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        STUDY,
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    tracker.start_parent("study", {}, {"study": STUDY})
    run_id, _ = tracker.log_confirmation(
        "confirm-trial-0",
        {"epochs": 4},
        {"m": 1.0},
        {"study": STUDY, "trial_number": "0"},
        tiny_model_bytes(tmp_path),
    )
    version = tracker.register_champion(run_id, "tiny", {"floor": "0.9"}, "the **card**")
    assert tracker.register_champion(run_id, "tiny", {"floor": "0.9"}, "the **card**") == version
    stored = tracker.client.get_model_version("tiny", str(version))
    assert stored.source.startswith("models:/m-") and stored.run_id == run_id
    assert stored.description == "the **card**" and stored.tags["floor"] == "0.9"
    assert len(tracker.client.search_model_versions("name = 'tiny'")) == 1


def test_runs_list_their_datasets_and_models_their_metrics_and_an_input_example(tmp_path):
    import mlflow
    import numpy as np

    from slimtune.trackers import InputDataset, using_tracking_uri

    def split(context: str, rows: int, digest: str) -> InputDataset:
        return InputDataset(
            context,
            f"mnist-{context}",
            digest,
            "/data/train-images-idx3-ubyte",
            (rows, 28, 28, 1),
            (rows,),
        )

    train, val, test = (
        split("training", 100, "a1"),
        split("validation", 20, "b2"),
        split("test", 30, "c3"),
    )
    assert InputDataset.from_dict(train.to_dict()) == train
    with pytest.raises(ValueError, match="dataset context 'train': use one of training"):
        split("train", 1, "x")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri, STUDY, artifact_location=(tmp_path / "artifacts").as_uri())
    example = np.linspace(0, 1, 2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28, 1)
    parent = tracker.start_parent("study", {}, {"study": STUDY}, [train, val], example)
    run_id, _ = tracker.log_confirmation(
        "confirm-trial-0",
        {},
        {"worst_case_val_accuracy": 0.9, "params": 46.0},
        {"study": STUDY, "trial_number": "0"},
        tiny_model_bytes(tmp_path),
        [test],
    )

    def inputs(run: str) -> dict[str, tuple[str, str]]:
        return {
            d.dataset.name: (d.dataset.digest, d.tags[0].value)
            for d in tracker.client.get_run(run).inputs.dataset_inputs
        }

    assert inputs(parent) == {
        "mnist-training": ("a1", "training"),
        "mnist-validation": ("b2", "validation"),
    }
    assert inputs(run_id) == inputs(parent) | {"mnist-test": ("c3", "test")}
    (model,) = tracker.client.search_logged_models([tracker.experiment_id])
    assert model.source_run_id == run_id
    assert {m.key: m.value for m in model.metrics} == {
        "worst_case_val_accuracy": 0.9,
        "params": 46.0,
    }
    with using_tracking_uri(uri):
        logged = mlflow.models.get_model_info(f"models:/{model.model_id}")
        assert logged.saved_input_example_info["artifact_path"] == "input_example.json"
        stored = mlflow.models.Model.load(f"models:/{model.model_id}").load_input_example(
            mlflow.artifacts.download_artifacts(f"models:/{model.model_id}")
        )
        scores = mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict(stored)
    assert np.allclose(stored["image"], example) and np.asarray(scores).shape == (2, 10)


def test_a_model_attached_to_a_finished_run_later_links_its_metrics_once(tmp_path):
    """--log-models front: a trial's run is written without its model, which is attached when
    the search ends; a retry after a crash mid-attach (a PENDING model) ends with one model."""
    tracker = MlflowTracker(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        STUDY,
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    tracker.start_parent("study", {}, {"study": STUDY})
    run_id = tracker.log_trial(
        0,
        "trial-0",
        {"x": 1},
        {"worst_case_val_accuracy": 0.9},
        {"study": STUDY},
        "FINISHED",
        curves={"epoch_val_accuracy_seed_0": [0.5, 0.9]},
    )
    assert tracker.trial_run_ids(STUDY) == {0: run_id}
    half = tracker.client.create_logged_model(tracker.experiment_id, source_run_id=run_id)
    model = tiny_model_bytes(tmp_path)
    tracker.attach_model(run_id, model)
    tracker.attach_model(run_id, model)
    (logged,) = tracker.client.search_logged_models([tracker.experiment_id])
    assert logged.model_id != half.model_id and str(logged.status).endswith("READY")
    assert {m.key: m.value for m in logged.metrics} == {"worst_case_val_accuracy": 0.9}
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["slimtune.logged"] == "true"


def test_a_failed_registry_read_is_not_taken_for_no_version_yet(tmp_path):
    """Only "no such registered model" means a run has no version yet: a registry that fails to
    answer must stop the registration, not lead to a second version of the same run."""
    from mlflow.exceptions import MlflowException

    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", STUDY)

    def search_model_versions(*args, **kwargs):
        raise MlflowException("the registry's store is away", error_code="TEMPORARILY_UNAVAILABLE")

    tracker.client.search_model_versions = search_model_versions
    with pytest.raises(MlflowException, match="the registry's store is away"):
        tracker.register_champion("0" * 32, "tiny", {})
