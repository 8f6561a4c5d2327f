"""From the registry to a verified file: load a model, export it, measure the export on the test
split and check it against the floor the model was registered with."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from deploy._export import (FORMATS, ExportReport, accuracy, artifact_bytes, export,
                            keras_accuracy, publish, staged)
from deploy._registry import (check_model_uri, load_keras_model, locate, recipe_of,
                              tracking_uri_of)
from deploy._template import DesignTemplate, TemplateError, config_from_model
from search._data import resolve
from search._errors import UsageError
from search._trainer import Recipe
from spaces import footprint

CALIBRATION_SEED = 0


def pull_model(model_uri: str, fmt: str, out: Path, tracking_uri: str | None, dataset: str,
               data_dir: Path | None, calibration_images: int, min_accuracy: float | None,
               allow_below_floor: bool, val_size: int = 5000) -> ExportReport:
    """Export `model_uri` as `fmt` to `out`. `out` is written only if the export holds the floor
    (or `allow_below_floor`); the returned report says what was measured either way."""
    check_model_uri(model_uri)
    _check_out(fmt, out)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    source = locate(model_uri, tracking_uri_of(tracking_uri))
    data = resolve(dataset, data_dir)
    data.check()
    model = load_keras_model(source)
    test = data.test()
    _check_shapes(model, test.x, test.y, dataset)
    x_test = test.x.astype(np.float32) / 255.0
    calibration = (_calibration(data, calibration_images, val_size) if fmt == "tflite-int8"
                   else None)
    floor, floor_source = ((min_accuracy, "--min-accuracy") if min_accuracy is not None
                           else (source.floor, source.floor_source))
    with staged(out) as path:
        export(model, fmt, path, calibration)
        file_bytes = artifact_bytes(path)
        exported = accuracy(fmt, path, x_test, test.y)
        passed = None if floor is None else exported >= floor
        if passed is not False or allow_below_floor:
            publish(path, out)
    float_acc = keras_accuracy(model, x_test, test.y)
    return ExportReport(
        model_uri=source.version_uri or model_uri, format=fmt, path=str(out), file_bytes=file_bytes,
        float_accuracy=float_acc, exported_accuracy=exported, drop=float_acc - exported,
        test_images=len(test.y), calibration_images=len(calibration) if calibration is not None
        else 0, floor=floor, floor_source=floor_source, passed=passed,
        analytic_weight_bytes_int8=_analytic_int8_bytes(model))


def template_of(model_uri: str, tracking_uri: str | None) -> DesignTemplate:
    """The design template of a logged model: its architecture and its search's recipe."""
    source = locate(model_uri, tracking_uri_of(tracking_uri))
    model = load_keras_model(source)
    try:
        config = config_from_model(model)
    except TemplateError as exc:
        raise UsageError(f"model {model_uri!r}: {exc}") from None
    recipe = Recipe(**recipe_of(source))
    return DesignTemplate(config=config, recipe=recipe, source=source.version_uri or model_uri,
                          floor=source.floor)


def _check_out(fmt: str, out: Path) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if fmt == "keras" and out.suffix != ".keras":
        raise UsageError(f"--out {out}: Keras saves only to a path ending in .keras; use e.g. "
                         f"{out.with_suffix('.keras')}")
    if fmt == "saved_model":
        if out.is_file():
            raise UsageError(f"--out {out}: is a file, but a SavedModel is a folder; choose a "
                             "folder path")
        if out.is_dir() and any(out.iterdir()) and not (out / "saved_model.pb").is_file():
            raise UsageError(f"--out {out}: folder is not empty and holds no SavedModel; choose a "
                             "new folder")
    elif out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file path such as {out / 'model'}"
                         f"{'.keras' if fmt == 'keras' else '.tflite'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write to {out.parent} ({exc.strerror}); choose a "
                         "folder you can write to") from None


def _check_shapes(model, x: np.ndarray, y: np.ndarray, dataset: str) -> None:
    expected = tuple(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    if tuple(x.shape[1:]) != expected or int(y.max()) >= classes:
        raise UsageError(f"--dataset {dataset}: images {tuple(x.shape[1:])} with {int(y.max()) + 1} "
                         f"classes, but the model takes {expected} with {classes}; pass the "
                         "dataset the model was trained on")


def _calibration(data, count: int, val_size: int) -> np.ndarray:
    """`count` images drawn at random (fixed seed) from the training split, never validation or
    test images."""
    train, _ = data.train_val(val_size)
    if count > len(train.x):
        raise UsageError(f"--calibration-images {count}: the training split holds "
                         f"{len(train.x)}; use at most that")
    rows = np.random.default_rng(CALIBRATION_SEED).choice(len(train.x), count, replace=False)
    return train.x[np.sort(rows)].astype(np.float32) / 255.0


def _analytic_int8_bytes(model) -> int | None:
    try:
        config = config_from_model(model)
    except TemplateError:
        return None
    return footprint(config, tuple(model.input_shape[1:]),
                     int(model.output_shape[-1])).weight_bytes_int8
