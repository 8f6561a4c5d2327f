"""The `slimtune` command line: the one place that wires spaces, search, trackers and deploy
together and maps each package's errors to exit codes. Heavy imports happen inside commands so
`--help` is instant."""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from slimtune._deploy_commands import DATA_DIR_HELP
from slimtune._search_command import search_command
from slimtune.search import UsageError, enable_onednn

# Typer vendors Click; its UsageError is the base of every bad-flag error it raises.
_CLICK_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]
EXIT_BELOW_FLOOR = 4
EXIT_STORAGE_LOST = 5
EXIT_UNEXPECTED = 1
_IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG, errno.EIO}


class PanelledHelpCommand(typer.core.TyperCommand):
    """A command whose --help lists its options in one section per help panel (`slimtune
    search`: one per settings value), as plain Click text: names whole and "[default: ...]" as
    written at any width, where Rich's panels cut both at 80 columns."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                panel = getattr(param, "rich_help_panel", None) or "Options"
                sections.setdefault(panel, []).append(record)
        for panel, rows in sections.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain Click help: Rich reads "[default: ...]" as markup and drops it, and its
    # table cuts option names at 80 columns.
    rich_markup_mode=None,
    help="Find the smallest CNN that still meets a worst-case accuracy floor.",
)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


class Schedule(StrEnum):
    cosine = "cosine"
    constant = "constant"


def _run_search(config: Path | None, flags: dict[str, Any]) -> None:
    from slimtune.search import SearchSettings, run_search

    settings = SearchSettings.from_sources(str(config) if config else None, flags)
    result = run_search(settings)
    print_result(result.to_dict(), Path(settings.resolved().study.out))


app.command("search", cls=PanelledHelpCommand)(search_command(_run_search))


@app.command("space")
def show_space(
    space: Annotated[
        Path | None, typer.Option(help="Search-space TOML to show [default: spaces/default.toml].")
    ] = None,
    input_shape: Annotated[str, typer.Option(help="H,W,C of the images.")] = "28,28,1",
    classes: Annotated[int, typer.Option(help="Number of classes.")] = 10,
) -> None:
    """Print the search space and the footprint of the named presets."""
    from slimtune.spaces import footprint, load_space, presets

    shape = _shape(input_shape)
    loaded = load_space(space)
    out_console.print(loaded.to_toml(), markup=False)
    table = Table(title="presets")
    for column in (
        "preset",
        "config",
        "in space",
        "params",
        "fp32 bytes",
        "int8 bytes",
        "peak act. int8 bytes",
        "MACs",
    ):
        table.add_column(column, justify="right" if column not in ("preset", "config") else "left")
    for name, config in presets().items():
        fp = footprint(config, shape, classes)
        table.add_row(
            name,
            config.summary(),
            "yes" if loaded.contains(config) else "no",
            f"{fp.params:,}",
            f"{fp.weight_bytes_fp32:,}",
            f"{fp.weight_bytes_int8:,}",
            f"{fp.peak_activation_bytes_int8:,}",
            f"{fp.macs:,}",
        )
    out_console.print(table)


@app.command()
def evaluate(
    preset: Annotated[
        str | None, typer.Option(help="A named preset, e.g. paper-final [default: none].")
    ] = None,
    config_json: Annotated[
        str | None,
        typer.Option(
            help="A configuration as JSON (as in result.json's chosen.config) [default: none]."
        ),
    ] = None,
    dataset: Annotated[str, typer.Option()] = "mnist",
    data_dir: Annotated[str | None, typer.Option(help=DATA_DIR_HELP)] = None,
    train_subset: Annotated[
        int | None, typer.Option(help="Train on the first N training images [default: all].")
    ] = None,
    seeds: Annotated[int, typer.Option()] = 3,
    epochs: Annotated[int, typer.Option()] = 5,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-2,
    schedule: Annotated[Schedule, typer.Option()] = Schedule.cosine,
    augment: Annotated[
        str,
        typer.Option(help="On-the-fly augmentation: none, shift or affine (as for search)."),
    ] = "none",
    threads: Annotated[int, typer.Option(help="TensorFlow threads.")] = 1,
) -> None:
    """Train one configuration with several seeds; print its footprint and validation accuracy."""
    from slimtune.search import (
        check_seed_count,
        class_count,
        image_shape,
        resolve_dataset,
        search_seeds,
        train_seeds,
    )
    from slimtune.spaces import CNNConfig, Recipe, footprint
    from slimtune.spaces import preset as named_preset

    check_seed_count(seeds)
    recipe = Recipe(
        epochs=epochs, learning_rate=learning_rate, schedule=schedule.value, augment=augment
    )
    _check_threads(threads)
    if (preset is None) == (config_json is None):
        raise UsageError("give exactly one of --preset NAME or --config-json JSON")
    try:
        if preset is not None:
            config = named_preset(preset)
        else:
            assert config_json is not None  # exactly one of the two is given (checked above)
            config = CNNConfig.from_dict(json.loads(config_json))
    except KeyError as exc:
        raise UsageError(f"--preset {preset}: {exc.args[0]}") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"--config-json {config_json}: {exc}; see result.json for the format"
        ) from None
    source = resolve_dataset(dataset, Path(data_dir) if data_dir else None)
    train, val = source.train_val(train_subset=train_subset)
    fp = footprint(config, image_shape(train), class_count(train, val))
    outcome = train_seeds(
        config, train, val, recipe, search_seeds(0, seeds), threads=threads, keep_model=False
    )
    out_console.print_json(
        json.dumps(
            {
                "config": config.summary(),
                "footprint": fp.to_dict(),
                "seeds": outcome.seeds,
                "val_accuracies": outcome.val_accuracies,
                "worst_case_val_accuracy": outcome.worst_case_val_accuracy,
                "train_time_s": round(outcome.train_time_s, 2),
            }
        )
    )


# From registry to device: light imports, heavy ones inside the commands.
from slimtune._deploy_commands import export_template, pull, train  # noqa: E402

app.command()(pull)
app.command("export-template")(export_template)
app.command()(train)


JOBS_ADDRESS_HELP = (
    "Ray Jobs API of the cluster (its dashboard), e.g. http://HEAD:8265 "
    "[default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS or http://127.0.0.1:8265]."
)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def submit(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Option(help=JOBS_ADDRESS_HELP)] = None,
    job_id: Annotated[
        str | None, typer.Option(help="Job id to use [default: Ray picks one].")
    ] = None,
    working_dir: Annotated[
        str | None,
        typer.Option(
            help="Ship this folder as the job's Ray runtime "
            "environment (clusters without the slimtune "
            "image) [default: none]."
        ),
    ] = None,
) -> None:
    """Submit a whole search as a Ray Job: `slimtune submit [--address URL] -- SEARCH FLAGS`.
    Prints the job id; follow it with `slimtune status JOB` and `slimtune logs JOB`."""
    from slimtune.deploy import submit_job

    if not ctx.args:
        raise UsageError(
            "no search flags given; use: slimtune submit --address URL -- "
            "--trials 30 --min-accuracy 0.95 ... (the flags of slimtune search)"
        )
    print(submit_job(address, list(ctx.args), job_id, working_dir))


@app.command()
def status(
    job: Annotated[str, typer.Argument(help="Job id printed by slimtune submit.")],
    address: Annotated[str | None, typer.Option(help=JOBS_ADDRESS_HELP)] = None,
) -> None:
    """Print a submitted search's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from slimtune.deploy import job_status

    state, message = job_status(address, job)
    print(f"{state}{': ' + message if message else ''}")


@app.command()
def logs(
    job: Annotated[str, typer.Argument(help="Job id printed by slimtune submit.")],
    address: Annotated[str | None, typer.Option(help=JOBS_ADDRESS_HELP)] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Keep printing until the job ends [default: print once]."
        ),
    ] = False,
) -> None:
    """Print a submitted search's output (its progress lines and closing table)."""
    from slimtune.deploy import follow_job_logs, job_logs

    if follow:
        follow_job_logs(address, job)
    else:
        print(job_logs(address, job), end="")


# Browsing a study: optuna-dashboard, imported inside the command.
from slimtune._dashboard import dashboard  # noqa: E402

app.command()(dashboard)


def print_result(result: dict, out: Path) -> None:
    """The closing table: chosen model, footprint, reduction vs paper-base, where to look."""
    chosen = result["chosen"]
    study = result["study"]
    table = Table(title=f"slimtune: study {study['name']} (floor {result['floor']})")
    table.add_column("")
    table.add_column("chosen", justify="right")
    table.add_column("paper-base", justify="right")
    table.add_column("reduction", justify="right")
    base = result["baseline"]["footprint"]
    table.add_row(
        "config", chosen["summary"] if chosen else "none", result["baseline"]["summary"], ""
    )
    for key in (
        "params",
        "weight_bytes_fp32",
        "weight_bytes_int8",
        "peak_activation_bytes_int8",
        "tflite_file_bytes",
        "tflm_arena_bytes",
        "macs",
    ):
        if base.get(key, -1) < 0 or (chosen and chosen["footprint"].get(key, -1) < 0):
            continue  # not predicted (a HyperModel's layers): no row rather than a wrong one
        value = f"{chosen['footprint'][key]:,}" if chosen else "-"
        ratio = f"{base[key] / chosen['footprint'][key]:.0f}x" if chosen else "-"
        table.add_row(key, value, f"{base[key]:,}", ratio)
    if chosen:
        table.add_row("worst-case val acc", f"{chosen['worst_case_val_accuracy']:.4f}", "", "")
        if chosen.get("recheck_accuracies"):
            table.add_row(
                "worst-case recheck acc", f"{min(chosen['recheck_accuracies']):.4f}", "", ""
            )
        table.add_row("worst-case test acc", f"{chosen['worst_case_test_accuracy']:.4f}", "", "")
        if chosen.get("worst_case_int8_test_accuracy") is not None:
            table.add_row(
                "  as the int8 file", f"{chosen['worst_case_int8_test_accuracy']:.4f}", "", ""
            )
    out_console.print(table)
    out_console.print(
        f"trials: {study['n_complete']} complete, {study['n_pruned']} pruned, "
        f"{study['n_failed']} failed; front: {len(result['front'])} points"
    )
    out_console.print(result["message"])
    mlflow = result["mlflow"]
    out_console.print(f"result: {out / 'result.json'}")
    out_console.print(
        f"MLflow: {mlflow['tracking_uri']} (experiment {mlflow['experiment']}"
        + (f", model {mlflow.get('model_uri')}" if mlflow.get("model_uri") else "")
        + f"); browse with: {_mlflow_command()} ui --backend-store-uri "
        f"{mlflow['tracking_uri']}",
        markup=False,
        soft_wrap=True,
    )


def _mlflow_command() -> str:
    """The `mlflow` next to this Python (the venv's), so the line runs without activating it."""
    beside = Path(sys.executable).parent / "mlflow"
    return str(beside) if beside.exists() else "mlflow"


@app.command()
def report(
    html: Annotated[Path, typer.Argument(help="The HTML file to write, e.g. report.html.")],
    out: Annotated[
        str | None,
        typer.Option(help="Output folder of the search (its --out) [default: runs/slimtune]."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="The search's study TOML: its out is read [default: none].")
    ] = None,
) -> None:
    """Write one self-contained HTML page of a finished search: its plots, the Pareto front, the
    chosen model's card and the confirmations (opens without a server)."""
    from slimtune.search import SearchSettings, load_finished_search, report_html
    from slimtune.trackers import write_bytes_atomic

    if html.is_dir():
        raise UsageError(
            f"{html}: is a folder; give the HTML file to write, e.g. {html / 'report.html'}"
        )
    folder = Path(
        SearchSettings.from_sources(str(config) if config else None, {"out": out})
        .resolved()
        .study.out
    )
    result, rows = load_finished_search(folder)
    write_bytes_atomic(html, report_html(result, rows).encode())
    out_console.print(
        f"report: {html} (study {result['study']['name']}, {len(rows)} trials)",
        markup=False,
        soft_wrap=True,
    )


def _shape(text: str) -> tuple[int, int, int]:
    try:
        height, width, channels = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--input-shape {text}: use H,W,C such as 28,28,1") from None
    return height, width, channels


def _check_threads(threads: int) -> None:
    if threads < 1:
        raise UsageError(f"--threads {threads}: use a whole number of 1 or more")


def _input_errors() -> tuple[type[Exception], ...]:
    """Each package's error type for bad input: one line on stderr, exit code 2."""
    from slimtune.deploy import DeployError, TemplateError
    from slimtune.search import TrainingFailed
    from slimtune.spaces import DeviceError, RecipeError, SpaceError
    from slimtune.trackers import TrackingUriError

    return (
        UsageError,
        SpaceError,
        DeviceError,
        RecipeError,
        DeployError,
        TemplateError,
        TrainingFailed,
        TrackingUriError,
    )


def main() -> None:
    """Entry point. Exit codes: 0 done; 2 bad input (one line on stderr, nothing touched);
    3 the disk or a file failed during the run (state files stay whole: re-run to resume);
    4 an exported model is below its floor (nothing written); 5 the study's database stopped
    answering (re-run to resume); 1 an unexpected error (one line, the traceback in a file);
    130/143 stopped by Ctrl-C/SIGTERM (re-run to resume)."""
    from slimtune.deploy import ExportBelowFloor
    from slimtune.search.execution import install, received

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    # oneDNN on unless the user chose: without it (TensorFlow's default on AVX2-only CPUs) the
    # small models train 3.7x slower and packed seeds cannot train at all.
    enable_onednn()
    # Ctrl-C and SIGTERM unwind: running trials are recorded as interrupted, runs closed as
    # KILLED, a partial result.json written and Ray stopped.
    install()
    try:
        # Without standalone mode Click returns the exit code of typer.Exit (130 on Ctrl-C).
        code = app(standalone_mode=False)
    except _input_errors() as exc:
        _fail(str(exc))
    except ExportBelowFloor as exc:
        _fail(str(exc), code=EXIT_BELOW_FLOOR)
    except _CLICK_USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(0)
        _fail(_usage_message(exc))
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except Exception as exc:
        lost = _storage_lost(exc)
        if lost is not None:
            _fail(str(lost), code=EXIT_STORAGE_LOST)
        failure = _io_failure(exc)
        if failure is None:
            _fail(_unexpected(exc), code=EXIT_UNEXPECTED)
        _fail(
            f"{failure}; free space or fix the folder's permissions, then run the same command "
            "again to resume",
            code=3,
        )
    if code == 130 and received:
        # Typer turns KeyboardInterrupt (our Interrupted included) into exit code 130.
        name = signal.Signals(received[0]).name
        _fail(f"stopped by {name}; run the same command again to resume", code=128 + received[0])
    if code == 130:
        _fail("interrupted; run the same command again to resume", code=130)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_message(exc: Any) -> str:
    """Click's message on one line, naming the value: Typer's pydantic coercion says only
    "Input should be a valid integer", so the rejected input is added from its cause."""
    message = exc.format_message().replace("\n", " ")
    errors = getattr(exc.__cause__, "errors", None)
    rejected = errors()[0].get("input") if callable(errors) and errors() else None
    if isinstance(rejected, str) and repr(rejected) not in message:
        message = message.replace(": ", f": {rejected!r}: ", 1)
    return message


def _storage_lost(exc: BaseException) -> BaseException | None:
    """The first StorageLost among `exc` and the exceptions it was raised while handling (the
    cleanup of a search whose database is away fails too, and says less)."""
    from slimtune.search import StorageLost

    found = None
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageLost):
            found = seen
        seen = seen.__cause__ or seen.__context__
    return found


def _io_failure(exc: BaseException) -> str | None:
    """'cannot write PATH: REASON' if `exc` (or what caused it) is the disk or a file failing."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _IO_ERRNOS:
            where = f" {seen.filename}" if seen.filename else ""
            return f"cannot write{where}: {seen.strerror}"
        text = str(seen)
        if "database or disk is full" in text or "readonly database" in text:
            return "cannot write the SQLite storage: database or disk is full or read-only"
        seen = seen.__cause__ or seen.__context__
    return None


def _unexpected(exc: BaseException) -> str:
    """One line for an error nobody anticipated (a bug, or a library failing in a new way): its
    type and first line, and a file holding the whole traceback for a bug report."""
    import tempfile
    import traceback

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # TensorFlow puts the cause last, after a list of the graph's frames
    first = (
        lines[-1]
        if type(exc).__module__.startswith("tensorflow") and lines
        else (lines[0] if lines else "")
    )
    message = f"unexpected {type(exc).__name__}: {first[:300]}"
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="slimtune-error-", suffix=".txt", delete=False
        ) as file:
            file.write(f"slimtune {' '.join(sys.argv[1:])}\n\n")
            traceback.print_exception(exc, file=file)
        return f"{message} (the traceback is in {file.name}; please report it)"
    except OSError:
        return message


def _fail(message: str, code: int = 2) -> None:
    print(f"slimtune: error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
