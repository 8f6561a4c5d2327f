"""The driver's MLflow records of a study: one child run per trial number, ever, and nothing lost
while the tracking server is away.

Optuna's storage is the source of truth. A trial's model is spooled to `<out>/spool/` before it
is sent to MLflow and removed once MLflow has it; while the server is unreachable the study goes
on, and the missing runs are written from Optuna and the spool when the server answers again
(checked every `RETRY_OFFLINE_S`) or on the next invocation.

Under `--log-models front` a trial's run is written at once without its model, which stays in the
spool until the search ends; `attach_models` then logs the front's models to their runs and
deletes the rest. A search killed before that leaves the spool for the next invocation to finish.
A trial off the front can never rejoin it (trials are only added), so its model is not needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from slimtune.search._data import DataSource, Split
from slimtune.search._failpoints import fail_point
from slimtune.search._progress import Progress
from slimtune.search.study._peers import Peers
from slimtune.trackers import (
    InputDataset,
    MlflowTracker,
    config_params,
    seed_metrics,
    server_serving,
    write_bytes_atomic,
)

RETRY_OFFLINE_S = 30.0
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class _Offline(Exception):
    """MLflow is known to be unreachable; the record waits for the next attempt."""


class TrialRecords:
    """Writes the study's trials to MLflow through `tracker`, once per trial number."""

    def __init__(
        self,
        tracker: MlflowTracker,
        study_name: str,
        spool: Path,
        progress: Progress,
        peers: Peers | None = None,
        log_models: str = "all",
    ) -> None:
        """`log_models`: "all" logs each trial's model with its run; "front" spools it for
        `attach_models`; "confirmed" logs no trial model (search/_settings.py LOG_MODELS)."""
        self.tracker = tracker
        self.study_name = study_name
        self.spool = spool
        self.progress = progress
        self.peers = peers  # None: this driver records every trial of the study
        self.log_models = log_models
        self.logged = self._logged_in_mlflow()
        self.offline_since: float | None = None
        self._last_attempt = 0.0

    # --- trials -----------------------------------------------------------------------------
    def backfill(self, study: optuna.Study) -> None:
        """Log every finished trial MLflow lacks: left by a dead driver or an MLflow outage.
        Trials another live driver asked are left to it (see search/study/_peers.py)."""
        if self.peers is None or self.peers.exclusive or not self._unlogged(study):
            self._log_unlogged(study)
            return
        # Another driver may have logged some since we looked: ask MLflow again, under the study
        # mutex, so two drivers never back-fill the same trial.
        with self.peers.mutex():
            try:
                self.logged = self._call(self._logged_in_mlflow)
            except _Offline:
                return
            self._log_unlogged(study)

    def _log_unlogged(self, study: optuna.Study) -> None:
        for trial in self._unlogged(study):
            self.log(trial)
            if self.offline_since is not None:
                return

    def _unlogged(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        return [
            t
            for t in study.get_trials(deepcopy=False, states=FINISHED_STATES)
            if t.number not in self.logged
            and "config" in t.user_attrs  # else it never started: nothing to record
            and (self.peers is None or self.peers.owner_gone(t))
        ]

    def _logged_in_mlflow(self) -> set[int]:
        return self.tracker.logged_trial_numbers(
            self.study_name, self.peers.may_delete_run if self.peers else None
        )

    def log(
        self,
        trial: optuna.trial.FrozenTrial,
        model_keras: bytes | None = None,
        status: str | None = None,
    ) -> None:
        """Log `trial` unless it already has a run; `status` overrides the state's run status."""
        if trial.number in self.logged:
            return
        model_path = self._spooled(trial.number)
        if model_keras is not None and self.log_models != "confirmed":
            write_bytes_atomic(model_path, model_keras)
        if self.log_models != "all":
            model_keras = None  # attached when the search ends (front), or never (confirmed)
        elif model_keras is None and model_path.exists():
            model_keras = model_path.read_bytes()
        try:
            self._call(
                lambda: self.tracker.log_trial(
                    trial.number,
                    f"trial-{trial.number}",
                    _params(trial),
                    _metrics(trial),
                    self._tags(trial),
                    status or _run_status(trial),
                    model_keras,
                    _curves(trial),
                )
            )
        except _Offline:
            return
        self.logged.add(trial.number)
        if self.log_models == "all":
            model_path.unlink(missing_ok=True)

    def attach_models(self, wanted: Container[int]) -> None:
        """The end of a search: the spooled model of each logged trial in `wanted` is logged to
        its run, the other logged trials' spooled models are deleted. A trial MLflow lacks keeps
        its model (the back-fill writes its run first); while MLflow is unreachable everything
        stays for the next invocation. Safe to repeat after a crash at any point."""
        fail_point("models.attaching")
        spooled = {
            int(stem): path
            for path in self.spool.glob("trial-*.keras")
            if (stem := path.stem.removeprefix("trial-")).isdigit()
        }
        ready = {number: path for number, path in spooled.items() if number in self.logged}
        if not ready:
            return
        try:
            run_ids = self._call(lambda: self.tracker.trial_run_ids(self.study_name))
            for number, path in sorted(ready.items()):
                if number in wanted and number in run_ids:
                    self._call(partial(self._attach, run_ids[number], path))
                path.unlink(missing_ok=True)
        except _Offline:
            return

    def _attach(self, run_id: str, path: Path) -> None:
        self.tracker.attach_model(run_id, path.read_bytes())

    def pending(self, study: optuna.Study) -> int:
        """Finished trials that have no MLflow run yet (and no live driver to write one)."""
        return len(self._unlogged(study))

    # --- other records ----------------------------------------------------------------------
    def attempt(self, write: Callable[[], Any]) -> Any:
        """Run one MLflow write; None if MLflow is unreachable (the caller keeps what it needs)."""
        try:
            return self._call(write)
        except _Offline:
            return None

    @property
    def online(self) -> bool:
        return self.offline_since is None

    # --- helpers ----------------------------------------------------------------------------
    def _call(self, write: Callable[[], Any]) -> Any:
        now = time.monotonic()
        if self.offline_since is not None:
            if now - self._last_attempt < RETRY_OFFLINE_S:
                raise _Offline
            self._last_attempt = now
            if not server_serving(self.tracker.tracking_uri):
                raise _Offline
            self.offline_since = None
            # Runs the outage cut in half are dropped here and written again in full.
            self.logged = self._logged_in_mlflow()
            self.progress.note(
                f"MLflow at {self.tracker.tracking_uri} answers again; writing "
                "the records it missed"
            )
        try:
            return write()
        except Exception:
            if server_serving(self.tracker.tracking_uri):
                raise  # MLflow is up, so this is a real error, not an outage
            # Down, or up with its backend store away (a database restarting under it): an
            # outage, whose records are written when it serves again.
            self.offline_since = self._last_attempt = time.monotonic()
            self.progress.note(
                f"MLflow at {self.tracker.tracking_uri} is unreachable; the study "
                "goes on (Optuna keeps every result) and the missing runs are "
                "written when it answers again or on the next invocation"
            )
            raise _Offline from None

    def _spooled(self, trial_number: int) -> Path:
        return self.spool / f"trial-{trial_number}.keras"

    def _tags(self, trial: optuna.trial.FrozenTrial) -> dict[str, str]:
        attrs = trial.user_attrs
        feasible = trial.state == TrialState.COMPLETE and all(
            v <= 0 for v in trial.constraints.values()
        )
        return {
            "study": self.study_name,
            "state": trial.state.name,
            "feasible": str(feasible).lower(),
            "summary": attrs.get("summary", ""),
            "node": attrs.get("node", ""),
            "ray_node_id": attrs.get("ray_node_id", ""),
            "node_ip": attrs.get("node_ip", ""),
            "reason": attrs.get("fail_reason", attrs.get("prune_reason", "")),
        }


def input_dataset(source: DataSource, context: str, split: Split) -> InputDataset:
    """How MLflow lists `split` among a run's inputs: `context` (training, validation, recheck,
    test), its content digest and the file it was read from."""
    name = source.name if source.name == "mnist" else Path(source.name).name
    return InputDataset(
        context=context,
        name=f"{name}-{context}",
        digest=split.digest,
        source=str(source.location(context)),
        features_shape=tuple(split.x.shape),
        targets_shape=tuple(split.y.shape),
        features_dtype=split.x.dtype.name,
        targets_dtype=split.y.dtype.name,
    )


def input_example(train: Split, rows: int = 2) -> np.ndarray:
    """The first `rows` training images as the models take them (float32 in [0, 1], as the
    trainer scales them): logged with every model as its MLflow input example."""
    return train.x[:rows].astype(np.float32) / 255.0


def _params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The configuration, and the epochs its accuracies were measured after (a promoted trial's
    differ from the search's; `slimtune export-template` reads them as the recipe's)."""
    epochs = trial.user_attrs.get("epochs")
    return config_params(trial.user_attrs["config"]) | ({"epochs": epochs} if epochs else {})


def _metrics(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
    attrs = trial.user_attrs
    metrics = dict(attrs.get("footprint", {}))
    metrics |= seed_metrics("val", attrs.get("seeds", []), attrs.get("val_accuracies", []))
    if attrs.get("screen_val_accuracies"):  # promoted: the first rung's worst seed
        metrics["worst_case_screen_val_accuracy"] = min(attrs["screen_val_accuracies"])
    if trial.state == TrialState.COMPLETE:
        metrics |= {
            "worst_case_val_accuracy": trial.values[0],
            "train_time_s": attrs.get("train_time_s", 0.0),
        }
    return metrics


def _curves(trial: optuna.trial.FrozenTrial) -> dict[str, list[float]]:
    """Each seed's validation accuracy after every epoch it trained (racing may cut one short)."""
    attrs = trial.user_attrs
    return {
        f"epoch_val_accuracy_seed_{seed}": list(curve)
        for seed, curve in zip(attrs.get("seeds", []), attrs.get("val_curves", []), strict=False)
    }


def _run_status(trial: optuna.trial.FrozenTrial) -> str:
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return "FINISHED"
    return "KILLED" if trial.user_attrs.get("interrupted") else "FAILED"


class NoRecords:
    """Records nothing (the in-process loop of benchmarks and unit tests has no MLflow)."""

    online = True

    def backfill(self, study: optuna.Study) -> None:
        pass

    def log(
        self,
        trial: optuna.trial.FrozenTrial,
        model_keras: bytes | None = None,
        status: str | None = None,
    ) -> None:
        pass

    def attach_models(self, wanted: Container[int]) -> None:
        pass

    def pending(self, study: optuna.Study) -> int:
        return 0
