"""`slimtune pull`, `slimtune export-template` and `slimtune train`: deploy's exports and templates
wired to search's data and trainer. Registered on the app in slimtune/cli.py; TensorFlow, MLflow
and LiteRT are imported inside the commands."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from slimtune.deploy import ExportReport
from rich.console import Console
from rich.table import Table

from slimtune.search import UsageError

# The lookup order of search/_data.py `resolve` (README "Data").
DATA_DIR_HELP = (
    "Local MNIST folder [default: SLIMTUNE_DATA_DIR, ~/.keras/datasets/mnist.npz, "
    "/usr/share/datasets/mnist, else a Keras download]."
)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


class Format(StrEnum):
    keras = "keras"
    saved_model = "saved_model"
    tflite = "tflite"
    tflite_int8 = "tflite-int8"


def pull(
    model: Annotated[
        str, typer.Argument(help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model.")
    ],
    out: Annotated[
        Path, typer.Option(help="Where to write the export (a folder for saved_model).")
    ],
    format: Annotated[Format, typer.Option("--format", help="Export format.")] = Format.tflite_int8,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow URI (or MLFLOW_TRACKING_URI) [default: sqlite:///runs/slimtune/mlflow.db]."
        ),
    ] = None,
    dataset: Annotated[
        str,
        typer.Option(
            help="'mnist' or a folder of IDX files / .npz: its "
            "training split calibrates int8, its test split "
            "measures the export."
        ),
    ] = "mnist",
    data_dir: Annotated[str | None, typer.Option(help=DATA_DIR_HELP)] = None,
    calibration_images: Annotated[
        int, typer.Option(help="Training images that calibrate int8 quantization.")
    ] = 500,
    val_size: Annotated[
        int,
        typer.Option(
            help="Validation images at the end of the training file, never used for calibration."
        ),
    ] = 5000,
    min_accuracy: Annotated[
        float | None,
        typer.Option(help="Floor to enforce [default: the floor the model was registered with]."),
    ] = None,
    allow_below_floor: Annotated[
        bool,
        typer.Option(
            help="Keep an export whose accuracy is below the floor, or that exceeds the "
            "device budgets its model was searched under."
        ),
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Also write the measurements as JSON here [default: none].")
    ] = None,
) -> None:
    """Export a registered model for a device and measure the exported file on the test split;
    a registry version gets the measurements as tags and a run holding the exported file."""
    from slimtune.deploy import (
        DeployError,
        calibration_rows,
        locate_pull,
        pull_model,
        record_pull,
    )
    from slimtune.search import input_dataset, resolve_dataset
    from slimtune.trackers import PULL_TAG_PREFIX, write_json_atomic

    if not 0.0 <= (min_accuracy if min_accuracy is not None else 0.0) <= 1.0:
        raise UsageError(f"--min-accuracy {min_accuracy}: use a fraction between 0 and 1")
    if calibration_images < 1:
        raise UsageError(f"--calibration-images {calibration_images}: use 1 or more")
    if val_size < 1:
        raise UsageError(f"--val-size {val_size}: use 1 or more")
    source = locate_pull(model, format.value, out, tracking_uri)
    data = resolve_dataset(dataset, Path(data_dir) if data_dir else None)
    data.check()
    test = data.test()
    read = [input_dataset(data, "test", test)]
    calibration = None
    if format == Format.tflite_int8:
        train, _ = data.train_val(val_size)
        calibration = (
            train.x[calibration_rows(len(train.x), calibration_images)].astype("float32") / 255.0
        )
        read.append(input_dataset(data, "training", train))
    result = pull_model(
        source,
        format.value,
        out,
        test.x,
        test.y,
        calibration,
        min_accuracy,
        allow_below_floor,
        dataset,
    )
    _print_report(result.to_dict())
    if report:
        write_json_atomic(report, result.to_dict())
    try:
        run_id = record_pull(source, result, read)
    except DeployError as exc:  # the export stands; only the registry's copy of the numbers is lost
        print(f"warning: {exc}", file=sys.stderr)
    else:
        if run_id:
            console.print(
                f"recorded on {source.version_uri}: tags "
                f"{PULL_TAG_PREFIX}{format.value}.*, run {run_id} with the "
                f"{'exported file' if out.exists() else 'numbers'}"
            )
    _refuse_or_keep(result, format.value, model, out, allow_below_floor)


def _refuse_or_keep(result: ExportReport, fmt: str, model: str, out: Path, allow: bool) -> None:
    """Exit 4 (ExportBelowFloor) for an export over its device budgets or below its floor,
    unless --allow-below-floor keeps it with a warning."""
    from slimtune.deploy import ExportBelowFloor

    if result.fits is False:
        message = (
            f"{fmt} export of {model} does not fit the device budgets it was searched "
            f"under ({'; '.join(result.budget_misses)})"
        )
        if not allow:
            raise ExportBelowFloor(
                f"{message}; nothing written to {out}. Pass --allow-below-floor to keep it "
                "anyway, or search again with the budgets of your device"
            )
        print(f"warning: {message}; kept because of --allow-below-floor")
    if result.passed is False:
        message = (
            f"{fmt} export of {model} has test accuracy "
            f"{result.exported_accuracy:.4f}, below the {result.floor_source} "
            f"{result.floor}"
        )
        if not allow:
            raise ExportBelowFloor(
                f"{message}; nothing written to {out}. Pass "
                "--allow-below-floor to keep it anyway, or pull another format"
            )
        print(f"warning: {message}; kept because of --allow-below-floor")


def export_template(
    model: Annotated[
        str, typer.Argument(help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model.")
    ],
    out: Annotated[Path, typer.Option(help="Template TOML to write.")],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow URI (or MLFLOW_TRACKING_URI) [default: sqlite:///runs/slimtune/mlflow.db]."
        ),
    ] = None,
) -> None:
    """Write a model's architecture and training recipe as a reusable design template."""
    from slimtune.deploy import save_template, template_of

    if out.is_dir():
        raise UsageError(
            f"--out {out}: is a folder; give a file path such as {out / 'template.toml'}"
        )
    template = template_of(model, tracking_uri)
    try:
        save_template(template, out)
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write it ({exc.strerror}); choose a folder you can write to"
        ) from None
    console.print(template.to_toml(), markup=False)
    console.print(f"template: {out}; train it with: slimtune train --template {out}")


def train(
    template: Annotated[
        Path, typer.Option(help="Design template TOML (slimtune export-template).")
    ],
    dataset: Annotated[
        str, typer.Option(help="'mnist' or a folder of IDX files / .npz.")
    ] = "mnist",
    data_dir: Annotated[str | None, typer.Option(help=DATA_DIR_HELP)] = None,
    train_subset: Annotated[
        int | None, typer.Option(help="Train on the first N training images [default: all].")
    ] = None,
    val_size: Annotated[
        int, typer.Option(help="Validation images from the end of the training file.")
    ] = 5000,
    seeds: Annotated[int, typer.Option(help="Seeds to train.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed base: seeds are 1000*seed + k.")] = 0,
    threads: Annotated[int, typer.Option(help="TensorFlow threads.")] = 1,
    out: Annotated[
        Path, typer.Option(help="Output folder (train.json, default MLflow store).")
    ] = Path("runs/train"),
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow URI (or MLFLOW_TRACKING_URI) [default: sqlite:///<out>/mlflow.db]."
        ),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment [default: slimtune-train-<dataset>].")
    ] = None,
) -> None:
    """Train a design template on (new) data with seeds and log it to MLflow like a trial."""
    from slimtune._train import train_template
    from slimtune.deploy import DesignTemplate
    from slimtune.search import check_seed_count, ensure_writable, resolve_dataset, search_seeds
    from slimtune.trackers import (
        check_tracking_server,
        check_tracking_uri,
        redact,
        resolve_tracking_uri,
        write_json_atomic,
    )

    check_seed_count(seeds)
    for flag, value in (
        ("--train-subset", train_subset),
        ("--val-size", val_size),
        ("--threads", threads),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: use a whole number of 1 or more")
    loaded = DesignTemplate.from_toml(template)
    out = out.absolute()
    uri = resolve_tracking_uri(tracking_uri, out)
    # Checked as `slimtune search` checks it, before minutes of training and before --out exists.
    check_tracking_uri(uri)
    check_tracking_server(uri)
    ensure_writable(out)
    source = resolve_dataset(dataset, Path(data_dir) if data_dir else None)
    source.check()
    name = "mnist" if dataset == "mnist" else Path(dataset).name
    result = train_template(
        loaded,
        source,
        search_seeds(seed, seeds),
        uri,
        experiment or f"slimtune-train-{name}",
        out,
        val_size,
        train_subset,
        threads,
    )
    write_json_atomic(out / "train.json", result.to_dict())
    console.print_json(json.dumps(result.to_dict()))
    console.print(
        f"model: {result.model_uri}; export it with: slimtune pull {result.model_uri} "
        f"--tracking-uri {redact(uri)} --out model.tflite"
    )


def _print_report(report: dict) -> None:
    table = Table(title=f"slimtune pull: {report['model_uri']} as {report['format']}")
    table.add_column("")
    table.add_column("value", justify="right")
    floor = "-" if report["floor"] is None else f"{report['floor']} ({report['floor_source']})"
    rows = [
        ("file", report["path"]),
        ("file bytes", f"{report['file_bytes']:,}"),
        (
            "analytic int8 weight bytes",
            "-"
            if report["analytic_weight_bytes_int8"] is None
            else f"{report['analytic_weight_bytes_int8']:,}",
        ),
        ("test images", f"{report['test_images']:,}"),
        ("float accuracy", f"{report['float_accuracy']:.4f}"),
        ("exported accuracy", f"{report['exported_accuracy']:.4f}"),
        ("drop", f"{report['drop']:+.4f}"),
        ("floor", floor),
        (
            "verdict",
            {
                True: "holds the floor",
                False: "BELOW the floor",
                None: "no floor recorded (pass --min-accuracy to enforce one)",
            }[report["passed"]],
        ),
    ]
    if report["format"] == "tflite-int8":
        rows.insert(3, ("calibration images (train split)", f"{report['calibration_images']:,}"))
        if report.get("tflm_accuracy") is not None:
            # The microcontroller runtime's own kernels: any difference from LiteRT shows here.
            rows.insert(4, ("TFLM arena bytes", f"{report['tflm_arena_bytes']:,}"))
            rows.insert(
                8,
                (
                    "TFLM accuracy",
                    f"{report['tflm_accuracy']:.4f} "
                    f"({report['tflm_accuracy'] - report['exported_accuracy']:+.4f} vs LiteRT)",
                ),
            )
    for row in rows:
        table.add_row(*row)
    console.print(table)
