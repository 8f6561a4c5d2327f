"""From the registry to a verified file: load a model, export it, measure the export on the test
split and check it against the floor the model was registered with. The caller (the CLI) loads
the data and passes arrays: deploy knows no data loader."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from slimtune.deploy._errors import DeployError
from slimtune.deploy._export import (
    FORMATS,
    ExportReport,
    accuracy,
    artifact_bytes,
    export,
    keras_accuracy,
    publish,
    staged,
    tflm_measures,
)
from slimtune.deploy._registry import (
    SourceModel,
    check_model_uri,
    load_keras_model,
    locate,
    recipe_of,
    tracking_uri_of,
)
from slimtune.deploy._template import DesignTemplate, TemplateError, config_from_model
from slimtune.spaces import Recipe, TflmError, footprint, footprint_of_model
from slimtune.spaces import calibration_rows as spaces_calibration_rows


def locate_pull(model_uri: str, fmt: str, out: Path, tracking_uri: str | None) -> SourceModel:
    """Check the model URI and the output path, then find the model; DeployError names what is
    wrong. Nothing is written."""
    check_model_uri(model_uri)
    _check_out(fmt, out)
    return locate(model_uri, tracking_uri_of(tracking_uri))


def calibration_rows(n_train: int, count: int) -> np.ndarray:
    """Which `count` of the `n_train` training images calibrate int8 (as the search does)."""
    try:
        return spaces_calibration_rows(n_train, count)
    except ValueError:
        raise DeployError(
            f"--calibration-images {count}: the training split holds {n_train}; use at most that"
        ) from None


def pull_model(
    source: SourceModel,
    fmt: str,
    out: Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    calibration: np.ndarray | None,
    min_accuracy: float | None,
    allow_below_floor: bool,
    dataset: str = "the dataset",
) -> ExportReport:
    """Export the model at `source` as `fmt` to `out` and measure the file on the test images
    (uint8 `x_test`, labels `y_test`); `calibration` (float32 images in [0, 1], training split
    only) is needed for tflite-int8. `out` is written only if the export holds the floor (or
    `allow_below_floor`); the returned report says what was measured either way."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model = load_keras_model(source)
    _check_shapes(model, x_test, y_test, dataset)
    model_uri = source.uri
    test_y = y_test
    x_test = x_test.astype(np.float32) / 255.0
    if fmt != "tflite-int8":
        calibration = None
    floor, floor_source = (
        (min_accuracy, "--min-accuracy")
        if min_accuracy is not None
        else (source.floor, source.floor_source)
    )
    with staged(out) as path:
        export(model, fmt, path, calibration)
        file_bytes = artifact_bytes(path)
        exported = accuracy(fmt, path, x_test, test_y)
        tflm = _tflm_measures(path, x_test, test_y) if fmt == "tflite-int8" else (None, None)
        passed = None if floor is None else exported >= floor
        misses = _budget_misses(source.budgets, fmt, file_bytes, tflm[1])
        fits = None if misses is None else not misses
        if (passed is not False and fits is not False) or allow_below_floor:
            publish(path, out)
    float_acc = keras_accuracy(model, x_test, test_y)
    return ExportReport(
        model_uri=source.version_uri or model_uri,
        format=fmt,
        path=str(out),
        file_bytes=file_bytes,
        float_accuracy=float_acc,
        exported_accuracy=exported,
        drop=float_acc - exported,
        test_images=len(test_y),
        calibration_images=len(calibration) if calibration is not None else 0,
        floor=floor,
        floor_source=floor_source,
        passed=passed,
        analytic_weight_bytes_int8=_analytic_int8_bytes(model),
        tflm_accuracy=tflm[0],
        tflm_arena_bytes=tflm[1],
        fits=fits,
        budget_misses=misses or [],
    )


def _budget_misses(
    budgets: dict[str, int], fmt: str, file_bytes: int, arena_bytes: int | None
) -> list[str] | None:
    """What the exported file exceeds of the device budgets its model was searched under (the
    .tflite file against max_flash_bytes, the arena TFLM measured against max_ram_bytes); None
    when no budget applies to this format."""
    checks = []
    if fmt in ("tflite", "tflite-int8") and "max_flash_bytes" in budgets:
        checks.append(("file", file_bytes, "max_flash_bytes"))
    if arena_bytes is not None and "max_ram_bytes" in budgets:
        checks.append(("TFLM arena", arena_bytes, "max_ram_bytes"))
    if not checks:
        return None
    return [
        f"{what} {value:,} bytes > {name} {budgets[name]:,}"
        for what, value, name in checks
        if value > budgets[name]
    ]


def _tflm_measures(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    try:
        return tflm_measures(path, x, y)
    except TflmError as exc:
        raise DeployError(f"--format tflite-int8: {exc}; the file runs under LiteRT only") from None


def template_of(model_uri: str, tracking_uri: str | None) -> DesignTemplate:
    """The design template of a logged model: its architecture and its search's recipe."""
    source = locate(model_uri, tracking_uri_of(tracking_uri))
    model = load_keras_model(source)
    try:
        config = config_from_model(model)
    except TemplateError as exc:
        raise DeployError(f"model {model_uri!r}: {exc}") from None
    recipe = Recipe(**recipe_of(source))
    return DesignTemplate(
        config=config, recipe=recipe, source=source.version_uri or model_uri, floor=source.floor
    )


def _check_out(fmt: str, out: Path) -> None:
    if fmt not in FORMATS:
        raise DeployError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if fmt == "keras" and out.suffix != ".keras":
        raise DeployError(
            f"--out {out}: Keras saves only to a path ending in .keras; use e.g. "
            f"{out.with_suffix('.keras')}"
        )
    if fmt == "saved_model":
        if out.is_file():
            raise DeployError(
                f"--out {out}: is a file, but a SavedModel is a folder; choose a folder path"
            )
        if out.is_dir() and any(out.iterdir()) and not (out / "saved_model.pb").is_file():
            raise DeployError(
                f"--out {out}: folder is not empty and holds no SavedModel; choose a new folder"
            )
    elif out.is_dir():
        raise DeployError(
            f"--out {out}: is a folder; give a file path such as {out / 'model'}"
            f"{'.keras' if fmt == 'keras' else '.tflite'}"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as exc:
        raise DeployError(
            f"--out {out}: cannot write to {out.parent} ({exc.strerror}); choose a "
            "folder you can write to"
        ) from None


def _check_shapes(model, x: np.ndarray, y: np.ndarray, dataset: str) -> None:
    expected = tuple(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    if tuple(x.shape[1:]) != expected or int(y.max()) >= classes:
        raise DeployError(
            f"--dataset {dataset}: images {tuple(x.shape[1:])} with {int(y.max()) + 1} "
            f"classes, but the model takes {expected} with {classes}; pass the "
            "dataset the model was trained on"
        )


def _analytic_int8_bytes(model) -> int | None:
    try:
        config = config_from_model(model)
    except TemplateError:  # not slimtune's own blocks (a HyperModel's): the footprint walk's
        measured = footprint_of_model(model).footprint.weight_bytes_int8
        return measured if measured >= 0 else None
    return footprint(
        config, tuple(model.input_shape[1:]), int(model.output_shape[-1])
    ).weight_bytes_int8
