"""Find a model in MLflow (registry alias or version, or a run's model) and what it was registered
with: the accuracy floor and the training recipe of the search that produced it."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimtune.deploy._errors import DeployError
from slimtune.spaces import quiet_native_stderr
from slimtune.trackers import (
    BUDGET_TAG_PREFIX,
    PULL_MEASURES,
    PULL_TAG_PREFIX,
    RECIPE_PARAMS,
    TAG_PREFIX,
    InputDataset,
    TrackingUriError,
    check_tracking_server,
    check_tracking_uri,
    redact,
    resolve_tracking_uri,
    using_tracking_uri,
)

if TYPE_CHECKING:
    import keras

    from slimtune.deploy._export import ExportReport

DEFAULT_OUT = Path("runs/slimtune")  # `slimtune search`'s default output folder
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[0-9a-f]{32})/(?P<path>[^ ]+)$")
URI_HELP = (
    "use models:/NAME@ALIAS (e.g. models:/slimtune-mnist@champion), models:/NAME/VERSION "
    "or runs:/RUN_ID/model"
)


@dataclass(frozen=True)
class SourceModel:
    """A model found in MLflow. `floor` is None when nothing recorded one."""

    uri: str  # as the user gave it
    version_uri: str | None  # models:/NAME/VERSION when it came from the registry
    run_id: str | None  # None for a registered version that came from no run
    floor: float | None
    floor_source: str  # where `floor` came from, for the report
    tracking_uri: str
    # The device budgets the model was searched under (registry tags "budget.max_flash_bytes",
    # "budget.max_ram_bytes"): what its int8 file and TFLM arena must fit.
    budgets: dict[str, int] = field(default_factory=dict)


def tracking_uri_of(flag: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the default search output's store, checked
    as `slimtune search` checks it (no password in it, a store MLflow 3 reads, a server that
    answers within seconds and takes this process's credentials). A SQLite store must already
    exist: reading one must never create an empty database. DeployError names what is wrong."""
    uri = resolve_tracking_uri(flag, DEFAULT_OUT)
    try:
        check_tracking_uri(uri)
        check_tracking_server(uri)
    except TrackingUriError as exc:
        raise DeployError(str(exc)) from None
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        path = path if uri.startswith("sqlite:////") or path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise DeployError(
                f"--tracking-uri {uri}: no such database {path}; pass the store of "
                "your search (sqlite:///OUT/mlflow.db or the server's URL), or set "
                "MLFLOW_TRACKING_URI"
            )
    return uri


def check_model_uri(model_uri: str) -> tuple[re.Match | None, re.Match | None]:
    """(models:/ match, runs:/ match); DeployError if `model_uri` is neither."""
    models, runs = _MODELS_URI.match(model_uri), _RUNS_URI.match(model_uri)
    if not models and not runs:
        raise DeployError(f"model {model_uri!r} is not a model URI; {URI_HELP}")
    return models, runs


def locate(model_uri: str, tracking_uri: str) -> SourceModel:
    """Resolve `model_uri` in the store at `tracking_uri`; DeployError if it is malformed or
    absent."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    models, runs = check_model_uri(model_uri)
    client = MlflowClient(tracking_uri)
    try:
        if models:
            name, alias, number = models["name"], models["alias"], models["version"]
            version = (
                client.get_model_version_by_alias(name, alias)
                if alias
                else client.get_model_version(name, number)
            )
            floor_tag = version.tags.get("floor")
            return SourceModel(
                model_uri,
                f"models:/{name}/{version.version}",
                version.run_id,
                _float(floor_tag),
                "registered floor" if floor_tag else "",
                tracking_uri,
                _budgets(version.tags),
            )
        assert runs is not None  # check_model_uri: a models:/ or a runs:/ URI
        run = client.get_run(runs["run_id"])
    except MlflowException as exc:
        first_line = (str(exc.message).splitlines() or [""])[0][:300]
        if not _not_found(exc):  # the server failed to answer; the model may well be there
            code = exc.error_code
            detail = first_line if first_line.startswith(code) else f"{code}: {first_line}"
            raise DeployError(
                f"model {model_uri!r}: MLflow at {redact(tracking_uri)} failed or refused the "
                f"look-up ({detail}); check the server and that you may "
                "read the model, then run the same command again"
            ) from None
        raise DeployError(
            f"model {model_uri!r} not found in {redact(tracking_uri)} ({first_line}); check "
            "the name, alias or version in the MLflow UI, or pass the right "
            "--tracking-uri"
        ) from None
    floor_tag = run.data.tags.get("slimtune.floor")
    return SourceModel(
        model_uri,
        None,
        run.info.run_id,
        _float(floor_tag),
        "run's floor tag" if floor_tag else "",
        tracking_uri,
    )


def _budgets(tags: dict[str, str]) -> dict[str, int]:
    """The byte budgets a registered version carries (tags BUDGET_TAG_PREFIX + name)."""
    budgets = {}
    for name in ("max_flash_bytes", "max_ram_bytes"):
        value = tags.get(BUDGET_TAG_PREFIX + name, "")
        if value.isdigit():
            budgets[name] = int(value)
    return budgets


def load_keras_model(source: SourceModel) -> keras.Model:
    """The Keras model behind `source`: its artifact downloaded, its MLmodel read before anything
    in it is loaded, and only a plain .keras file loaded, by Keras itself with safe mode on.
    MLflow's keras flavor would load an exported SavedModel (MLmodel `save_exported_model:
    true`) as a TensorFlow graph, where safe mode does not apply, and would put a model's `code`
    folder on sys.path: both are refused, as are Lambda layers (safe mode) and a damaged file.
    DeployError names the model and the reason in one line."""
    # Loading imports TensorFlow, whose C++ start-up notes would surround a one-line error;
    # every refusal below is that one line, so none of them needs the notes.
    with (
        tempfile.TemporaryDirectory(prefix="slimtune-pull-") as folder,
        quiet_native_stderr(explained=(DeployError,)),
    ):
        local = _download_model(source, Path(folder))
        return _load_keras_file(_keras_file(local, source.uri), source.uri)


def _download_model(source: SourceModel, folder: Path) -> Path:
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = source.version_uri or source.uri
    # MLflow's download progress bar would surround a one-line refusal; the user's choice wins.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        with using_tracking_uri(source.tracking_uri):
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))
    except (MlflowException, OSError) as exc:
        first = (str(getattr(exc, "message", exc)).strip().splitlines() or [""])[0][:300]
        raise DeployError(
            f"model {source.uri!r}: cannot download its artifact from "
            f"{redact(source.tracking_uri)} ({type(exc).__name__}: {first}); check that the "
            "artifact store is reachable and that you may read it, then run the same command again"
        ) from None


def _keras_file(local: Path, uri: str) -> Path:
    """The .keras file of the downloaded model folder `local`, after its MLmodel shows a plain
    Keras file and no code; DeployError otherwise."""
    import yaml

    def refuse(reason: str, fix: str) -> DeployError:
        return DeployError(f"model {uri!r}: {reason}; {fix}")

    mlmodel = local / "MLmodel"
    try:
        conf = yaml.safe_load(mlmodel.read_text()) if mlmodel.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        conf = None
    flavors = conf.get("flavors") if isinstance(conf, dict) else None
    if not isinstance(flavors, dict):
        raise refuse(
            "cannot load it as a Keras model (its artifact has no readable MLmodel file)",
            "pull a model logged by slimtune, or register a version whose artifact is whole",
        )
    carrying_code = sorted(
        name for name, flavor in flavors.items() if isinstance(flavor, dict) and flavor.get("code")
    )
    if carrying_code:
        raise refuse(
            f"refused: its MLmodel ships code to run when it loads (flavor {carrying_code[0]} "
            "has code paths)",
            "register the model without code_paths (a plain .keras file, as slimtune logs it)",
        )
    keras_flavor = flavors.get("keras")
    if not isinstance(keras_flavor, dict):
        raise refuse(
            f"cannot load it as a Keras model (its MLmodel has no keras flavor, only "
            f"{', '.join(sorted(map(str, flavors))) or 'none'})",
            "pull a model logged by slimtune, or register a version logged with mlflow.keras",
        )
    if keras_flavor.get("save_exported_model"):
        raise refuse(
            "refused: it is an exported TensorFlow SavedModel (MLmodel save_exported_model: "
            "true), which loads without Keras safe mode",
            "register the model as a .keras file (mlflow.keras.log_model(model, "
            "save_exported_model=False), as slimtune logs it)",
        )
    data = keras_flavor.get("data", "data")
    path = (local / str(data) / "model.keras").resolve()
    if not path.is_relative_to(local.resolve()) or not zipfile.is_zipfile(path):
        raise refuse(
            "cannot load it as a Keras model (its artifact holds no whole .keras file at "
            f"{data}/model.keras)",
            "pull a model logged by slimtune, or register a version whose artifact is whole",
        )
    return path


def _load_keras_file(path: Path, uri: str) -> keras.Model:
    import keras

    try:
        # Safe mode refuses models that would run arbitrary code (Lambda layers) when loaded.
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            raise DeployError(
                f"model {uri!r}: refused: it holds Python code (a Lambda layer or a lambda) "
                "that Keras safe mode does not load; register a model built from Keras "
                "layers only (slimtune's models are)"
            ) from None
        reason = _first_line(exc)
    except (TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        # What an edited or half-copied file fails with inside Keras's loader (a config that
        # does not parse or names no layer, weights h5py cannot read).
        reason = _first_line(exc)
    raise DeployError(
        f"model {uri!r}: cannot load it as a Keras model ({reason}); pull a model logged by "
        "slimtune, or register a version whose artifact is whole"
    )


def _first_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _not_found(exc: Any) -> bool:
    """Whether MLflow answered that the name, version, alias or run does not exist (a missing
    alias is INVALID_PARAMETER_VALUE "Registered model alias ... not found"), as opposed to
    failing to answer at all."""
    return exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
        exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc.message)
    )


def recipe_of(source: SourceModel) -> dict[str, Any]:
    """Training recipe values (epochs, batch_size, learning_rate, schedule) recorded on the
    model's run or its parent (the `slimtune search` or `slimtune train` invocation); missing keys
    are absent."""
    from mlflow import MlflowClient

    if source.run_id is None:  # a version registered from no run: no recipe was recorded
        return {}
    client = MlflowClient(source.tracking_uri)
    run = client.get_run(source.run_id)
    params = dict(run.data.params)
    parent_id = run.data.tags.get("mlflow.parentRunId")
    if parent_id:
        params = dict(client.get_run(parent_id).data.params) | params
    return {key: convert(params[key]) for key, convert in RECIPE_PARAMS.items() if key in params}


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def record_pull(
    source: SourceModel, report: ExportReport, datasets: Sequence[InputDataset] = ()
) -> str | None:
    """Write what a pull measured back to the registry: tags PULL_TAG_PREFIX + "<format>.<measure>"
    on the pulled version, and a run in its experiment holding the exported file as an artifact
    (when it was written), the measurements as metrics, and as inputs the version's logged model
    and `datasets` (the splits the pull read). Returns the run id, or None when `source` is not
    a registry version (a runs:/ URI has no version to tag). DeployError if MLflow refuses."""
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelInput
    from mlflow.exceptions import MlflowException

    if source.version_uri is None:
        return None
    name, number = source.version_uri.removeprefix("models:/").rsplit("/", 1)
    client = MlflowClient(source.tracking_uri)
    run_id = None
    try:
        version = client.get_model_version(name, number)
        if version.run_id is None:
            raise DeployError(
                f"the export was measured, but {source.version_uri} was registered from no run, "
                "so no experiment holds it to record the pull in"
            )
        experiment_id = client.get_run(version.run_id).info.experiment_id
        run_id = client.create_run(
            experiment_id,
            run_name=f"pull-{report.format}-{name}-v{number}",
            tags={
                f"{TAG_PREFIX}role": "pull",
                f"{TAG_PREFIX}model_version": f"{name}/{number}",
                f"{TAG_PREFIX}format": report.format,
            },
        ).info.run_id
        # The version's logged model (MLflow's REST answer leaves version.model_id empty).
        models = client.search_logged_models(
            [experiment_id], filter_string=f"source_run_id = '{version.run_id}'", max_results=1
        )
        client.log_inputs(
            run_id,
            datasets=[d.to_mlflow() for d in datasets] or None,
            models=[LoggedModelInput(m.model_id) for m in models] or None,
        )
        _log_pull_numbers(client, run_id, report)
        exported = Path(report.path)
        if exported.is_dir():
            client.log_artifacts(run_id, str(exported), f"export/{exported.name}")
        elif exported.is_file():
            client.log_artifact(run_id, str(exported), "export")
        values = {
            "file_bytes": report.file_bytes,
            "float_accuracy": f"{report.float_accuracy:.6f}",
            "exported_accuracy": f"{report.exported_accuracy:.6f}",
            "drop": f"{report.drop:.6f}",
            "test_images": report.test_images,
            "passed": "none" if report.passed is None else str(report.passed).lower(),
            "run_id": run_id,
        }
        if report.tflm_accuracy is not None:  # run under TFLM (tflite-int8)
            values |= {
                "tflm_accuracy": f"{report.tflm_accuracy:.6f}",
                "tflm_arena_bytes": report.tflm_arena_bytes,
            }
        if report.fits is not None:
            values["fits"] = str(report.fits).lower()
        for measure in (*PULL_MEASURES, "tflm_accuracy", "tflm_arena_bytes", "fits"):
            if measure not in values:
                continue
            client.set_model_version_tag(
                name, number, f"{PULL_TAG_PREFIX}{report.format}.{measure}", str(values[measure])
            )
        client.set_terminated(run_id, "FINISHED")
    except (MlflowException, OSError) as exc:
        if run_id is not None:
            with contextlib.suppress(MlflowException, OSError):
                client.set_terminated(run_id, "FAILED")
        first_line = (str(getattr(exc, "message", exc)).splitlines() or [""])[0]
        raise DeployError(
            f"the export was measured, but recording it on {source.version_uri} in "
            f"{redact(source.tracking_uri)} failed ({first_line}); check that you may "
            "write to that registry"
        ) from None
    return run_id


def _log_pull_numbers(client: Any, run_id: str, report: ExportReport) -> None:
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    metrics = {
        "file_bytes": report.file_bytes,
        "float_accuracy": report.float_accuracy,
        "exported_accuracy": report.exported_accuracy,
        "drop": report.drop,
        "test_images": report.test_images,
    }
    if report.tflm_accuracy is not None and report.tflm_arena_bytes is not None:
        metrics |= {
            "tflm_accuracy": report.tflm_accuracy,
            "tflm_arena_bytes": float(report.tflm_arena_bytes),
        }
    params = {
        "format": report.format,
        "calibration_images": report.calibration_images,
        "floor": report.floor,
        "floor_source": report.floor_source,
    }
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
