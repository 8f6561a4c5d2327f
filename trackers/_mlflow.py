"""MLflow tracking: one experiment per study, one parent run per invocation, one child run per
trial, and the confirmed winner in the Model Registry with the alias ``champion``."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from slimtune.trackers._datasets import InputDataset
from slimtune.trackers._mlflow_private import scoped_tracking_uri
from slimtune.trackers._schema import CHAMPION_ALIAS, TAG_PREFIX
from slimtune.trackers._uri import bound_http_retries, redact, server_reachable

if TYPE_CHECKING:
    import numpy as np

LOG_BATCH_METRICS = 1000  # the most metrics one MLflow log_batch call accepts


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide API (start_run, log_model, register_model, models:/ URIs) at
    `uri` for one block. mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI to every later
    subprocess and run, so both the setting and the variable are put back afterwards."""
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with scoped_tracking_uri(uri):
            yield
    finally:
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


class TrackerUnavailable(RuntimeError):
    """The tracking server cannot be reached; the message names its URI (without credentials)."""


class MlflowTracker:
    """Records a study in MLflow. Everything it writes goes through one process (the driver)."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str,
        artifact_location: str | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        """`checkpoint(name)` is called between the writes of a run and of a registration (a
        crash-safety test's fail points; by default nothing)."""
        from mlflow import MlflowClient

        bound_http_retries()
        if not server_reachable(tracking_uri):
            raise TrackerUnavailable(
                f"MLflow tracking server {redact(tracking_uri)} does not answer"
            )
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        experiment = self.client.get_experiment_by_name(experiment_name)
        self.experiment_name = experiment_name
        self.experiment_id = (
            experiment.experiment_id
            if experiment
            else self._create_experiment(experiment_name, artifact_location)
        )
        self.parent_run_id: str | None = None
        self.datasets: tuple[InputDataset, ...] = ()  # what the parent and every child read
        self.input_example: np.ndarray | None = None
        self.checkpoint = checkpoint or (lambda name: None)

    def _create_experiment(self, name: str, artifact_location: str | None) -> str:
        """Create the experiment; another driver of the same study may win the race to it."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id

    # --- runs -----------------------------------------------------------------------------------
    def start_parent(
        self,
        run_name: str,
        params: dict[str, Any],
        tags: dict[str, str],
        datasets: Sequence[InputDataset] = (),
        input_example: np.ndarray | None = None,
    ) -> str:
        """The invocation's run. `datasets` (the splits every trial reads) are logged as inputs
        of it and of every child run; `input_example` (a few float32 model inputs) goes with
        every model logged."""
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags=_tags(tags | {"role": "study"})
        )
        self.parent_run_id = run.info.run_id
        self.datasets, self.input_example = tuple(datasets), input_example
        self._log(run.info.run_id, params=params)
        self._log_inputs(run.info.run_id, self.datasets)
        return self.parent_run_id

    def end_parent(self, status: str = "FINISHED") -> None:
        if self.parent_run_id:
            self.client.set_terminated(self.parent_run_id, status)

    def logged_trial_numbers(
        self, study_name: str, may_delete: Callable[[int], bool] | None = None
    ) -> set[int]:
        """Trial numbers that already have a complete child run, so a resumed study never logs one
        twice. Runs half-written by a driver that stopped mid-log are deleted here, to be logged
        again in full; `may_delete(trial_number)` False spares a run another live driver is still
        writing."""
        runs = self.client.search_runs(
            [self.experiment_id],
            max_results=50000,
            filter_string=f"tags.`{TAG_PREFIX}study` = '{study_name}' and "
            f"tags.`{TAG_PREFIX}role` = 'trial'",
        )
        complete = set()
        for run in runs:
            if run.data.tags.get(f"{TAG_PREFIX}logged") == "true":
                complete.add(int(run.data.tags[f"{TAG_PREFIX}trial_number"]))
            elif may_delete is None or may_delete(int(run.data.tags[f"{TAG_PREFIX}trial_number"])):
                self.client.delete_run(run.info.run_id)
        return complete

    def close_stale_runs(self, study_name: str) -> int:
        """End the study's runs left RUNNING by a driver that died; returns how many. A run the
        driver had written in full (only set_terminated was missing) gets the status it was meant
        to have; any other gets KILLED. Call it only while no other driver records this study
        (the SQLite lock guarantees that)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            max_results=50000,
            filter_string=f"tags.`{TAG_PREFIX}study` = '{study_name}' and "
            "attributes.status = 'RUNNING'",
        )
        for run in runs:
            tags = run.data.tags
            status = (
                tags.get(f"{TAG_PREFIX}end_status", "KILLED")
                if tags.get(f"{TAG_PREFIX}logged") == "true"
                else "KILLED"
            )
            self.client.set_terminated(run.info.run_id, status)
        return len(runs)

    def log_trial(
        self,
        trial_number: int,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        status: str,
        model_keras: bytes | None = None,
        curves: dict[str, list[float]] | None = None,
    ) -> str:
        """One child run of the current parent, closed with `status` (FINISHED, FAILED, KILLED).
        `curves` are logged as stepped metrics (step = epoch, from 1), so MLflow draws them."""
        return self._child(
            run_name,
            params,
            metrics,
            tags | {"role": "trial", "trial_number": str(trial_number)},
            status,
            model_keras,
            curves,
        )

    def trial_run_ids(self, study_name: str) -> dict[int, str]:
        """Trial number -> run id of the study's complete trial runs (see logged_trial_numbers)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            max_results=50000,
            filter_string=f"tags.`{TAG_PREFIX}study` = '{study_name}' and "
            f"tags.`{TAG_PREFIX}role` = 'trial' and "
            f"tags.`{TAG_PREFIX}logged` = 'true'",
        )
        return {int(run.data.tags[f"{TAG_PREFIX}trial_number"]): run.info.run_id for run in runs}

    def attach_model(self, run_id: str, model_keras: bytes) -> None:
        """Log `model_keras` to an existing, complete run (a trial's, after the search chose which
        models to keep), its final metrics linked to it as at first logging. Safe to repeat: a
        run with a READY model keeps it, and the rest of an attempt a crash cut short (a model
        left PENDING) is deleted first. The run ends with the status it had."""
        import mlflow

        earlier = self.client.search_logged_models(
            [self.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        if any(str(m.status).endswith("READY") for m in earlier):
            return
        for model in earlier:
            self.client.delete_logged_model(model.model_id)
        status = self.client.get_run(run_id).info.status
        with using_tracking_uri(self.tracking_uri):
            # MLflow files a logged model under the active run's experiment; resuming the run
            # (status RUNNING meanwhile) is how it gets this one. Model.log then links the run's
            # step-0 metrics to the model.
            mlflow.start_run(run_id=run_id)
            try:
                _log_keras_model(model_keras, self.input_example)
            finally:
                mlflow.end_run(status)

    def log_confirmation(
        self,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        model_keras: bytes,
        datasets: Sequence[InputDataset] = (),
    ) -> tuple[str, str]:
        """Child run of a confirmation; returns (run_id, model_uri). `datasets`: the held-out
        splits it read besides the parent's (recheck, test). Written once: a complete run
        with the same tags (left by a driver that died before storing its id) is returned
        instead, and half-written ones are deleted first."""
        tags = tags | {"role": "confirmation"}
        run_id = self._complete_run_tagged(tags)
        if run_id is None:
            run_id = self._child(
                run_name, params, metrics, tags, "FINISHED", model_keras, datasets=datasets
            )
        return run_id, f"runs:/{run_id}/model"

    def register_champion(
        self, run_id: str, model_name: str, tags: dict[str, str], description: str = ""
    ) -> int:
        """Register the run's logged model, point the alias CHAMPION_ALIAS at it; returns the
        version, which carries `tags` and `description` (the model card)."""
        # Once per run: a version a driver created before it died is completed, not duplicated.
        version = self._version_of_run(model_name, run_id)
        if version is None:
            version = self._create_version(model_name, run_id)
            self.checkpoint("register.created")
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, version, key, value)
        if description:
            self.client.update_model_version(model_name, version, description=description)
        self.client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        self.checkpoint("register.aliased")
        return int(version)

    def _create_version(self, model_name: str, run_id: str) -> str:
        """A new version from the run's logged model, by the model's own `models:/<id>` URI
        (registering `runs:/<id>/model` makes MLflow 3 look the model up and warn), keeping the
        run id on the version (deploy reads the recipe from that run)."""
        from mlflow.exceptions import MlflowException

        logged = self.client.search_logged_models(
            [self.experiment_id], filter_string=f"source_run_id = '{run_id}'", max_results=1
        )
        if not logged:
            raise MlflowException(f"run {run_id} has no logged model to register")
        try:
            self.client.create_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        model_id = logged[0].model_id
        # The SQL registry store looks the logged model up through the process-wide tracking
        # URI, so it must point at this tracker's store while the version is created.
        with using_tracking_uri(self.tracking_uri):
            return self.client.create_model_version(
                model_name, f"models:/{model_id}", run_id=run_id, model_id=model_id
            ).version

    def _version_of_run(self, model_name: str, run_id: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            versions = self.client.search_model_versions(
                f"name = '{model_name}' and run_id = '{run_id}'"
            )
        except MlflowException as exc:
            # Only "no such registered model" means no version yet; any other failure (a server
            # error, a refusal) must not be read as that, or a retried registration would
            # create a second version of the same run.
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return None
        return min((v.version for v in versions), key=int, default=None)

    def _complete_run_tagged(self, tags: dict[str, str]) -> str | None:
        """A complete run of this experiment carrying every tag in `tags`; half-written runs with
        those tags are deleted (they are written again in full)."""
        wanted = _tags(tags)
        # Matched here rather than in the filter string: tag values (summaries) are free text.
        found = None
        for run in self.client.search_runs(
            [self.experiment_id],
            max_results=1000,
            filter_string=f"tags.`{TAG_PREFIX}role` = '{tags['role']}'",
        ):
            if any(run.data.tags.get(key) != value for key, value in wanted.items()):
                continue
            if run.data.tags.get(f"{TAG_PREFIX}logged") == "true":
                found = found or run.info.run_id
            else:
                self.client.delete_run(run.info.run_id)
        return found

    def log_parent_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        """Attach files (result, trials table, figures) to the current parent run, under
        `artifact_path` (None: at the top of its artifacts); nothing without a parent run."""
        if self.parent_run_id is None:
            return
        for path in paths:
            self.client.log_artifact(self.parent_run_id, str(path), artifact_path)

    # --- helpers --------------------------------------------------------------------------------
    def _child(
        self,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        status: str,
        model_keras: bytes | None,
        curves: dict[str, list[float]] | None = None,
        datasets: Sequence[InputDataset] = (),
    ) -> str:
        import mlflow
        from mlflow.entities import RunTag

        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags=_tags(tags) | {"mlflow.parentRunId": self.parent_run_id or ""},
        )
        run_id = run.info.run_id
        self.checkpoint("run.created")
        self._log_inputs(run_id, (*self.datasets, *datasets))
        model_id = None
        if model_keras is not None:
            with using_tracking_uri(self.tracking_uri), mlflow.start_run(run_id=run_id):
                model_id = _log_keras_model(model_keras, self.input_example)
        # After the model: its id links the run's final metrics to it (MLflow's model view).
        self._log(run_id, params=params, metrics=metrics, curves=curves, model_id=model_id)
        self.checkpoint("run.model_logged")
        # Written last, in one batch: a run without `logged` was interrupted mid-log (see
        # logged_trial_numbers); `end_status` lets close_stale_runs end a run whose driver died
        # between this write and set_terminated with the status it was meant to have.
        self.client.log_batch(
            run_id,
            tags=[RunTag(f"{TAG_PREFIX}logged", "true"), RunTag(f"{TAG_PREFIX}end_status", status)],
        )
        self.checkpoint("run.complete")
        self.client.set_terminated(run_id, status)
        return run_id

    def _log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        curves: dict[str, list[float]] | None = None,
        model_id: str | None = None,
    ) -> None:
        """`metrics` are also linked to the logged model `model_id` (curves stay the run's)."""
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)  # when it was recorded: MLflow shows it, and sorts by it
        points = [
            Metric(k, float(v), now, 0, model_id=model_id) for k, v in (metrics or {}).items()
        ]
        points += [
            Metric(k, float(v), now, step)
            for k, curve in (curves or {}).items()
            for step, v in enumerate(curve, start=1)
        ]
        params_list = [Param(k, str(v)) for k, v in (params or {}).items()]
        for start in range(0, max(len(points), 1), LOG_BATCH_METRICS):  # MLflow's batch limit
            self.client.log_batch(
                run_id,
                metrics=points[start : start + LOG_BATCH_METRICS],
                params=params_list if start == 0 else [],
            )

    def _log_inputs(self, run_id: str, datasets: Sequence[InputDataset]) -> None:
        if datasets:
            self.client.log_inputs(run_id, datasets=[d.to_mlflow() for d in datasets])


def _tags(tags: dict[str, str]) -> dict[str, str]:
    return {f"{TAG_PREFIX}{k}": str(v) for k, v in tags.items()}


def _log_keras_model(model_keras: bytes, input_example: np.ndarray | None = None) -> str:
    """Log the model to the active run, with `input_example` (float32 images) if given; returns
    its logged-model id."""
    import keras
    import mlflow
    import numpy as np
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(model_keras)
        model = keras.models.load_model(path, safe_mode=True)
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float32"), (-1, *model.input_shape[1:]), "image")]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, model.output_shape[-1]))]),
    )
    # mlflow.keras.log_model as it is, through a flavor that makes the model folder first:
    # mlflow.keras.save_model writes the input example into a folder it has not made yet
    # (mlflow/mlflow#16183, still open in MLflow 3.17).
    info = mlflow.models.Model.log(
        artifact_path=None,
        name="model",
        flavor=_KERAS_FLAVOR,
        model=model,
        signature=signature,
        input_example=None if input_example is None else {"image": input_example},
        pip_requirements=[f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"],
        # MLflow would check the example by loading the saved model and predicting on it: +270 ms
        # per logged model measured (+6 ms without), and Keras progress bars on our output. The
        # example is rows of the data the model was trained on, in the signature's shape.
        validate_serving_input=False,
    )
    return info.model_id


def _save_keras_model(path: str, mlflow_model: Any, **kwargs: Any) -> None:
    import mlflow

    os.makedirs(path, exist_ok=True)
    kwargs.pop("validate_serving_input", None)  # Model.log's, passed on to every flavor
    mlflow.keras.save_model(path=path, mlflow_model=mlflow_model, **kwargs)


# What Model.log reads of a flavor: its name (recorded on the logged model) and save_model.
_KERAS_FLAVOR = SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)
