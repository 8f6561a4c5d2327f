"""Every `slimtune search` setting, in small frozen values, each validated where it is defined.

Each field is declared once with `option(default, help, shown=...)`: its default, its help text
and the `[default: ...]` a user reads. The Typer command (`slimtune search`), the study TOML and
the tests all read those declarations; `SearchSettings.of(**values)` builds the whole value from
flag names, `resolved()` fills the defaults that depend on the environment once, and the held-out
sizes, which depend on the data, are a value of their own (`HeldOut`)."""

from __future__ import annotations

import os
from dataclasses import Field, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args, get_type_hints

from slimtune.search._errors import UsageError
from slimtune.search.training._seeds import (
    check_seed_base,
    check_seed_count,
    confirmation_seeds,
    search_seeds,
)
from slimtune.spaces import (
    AUGMENTATIONS,
    SCHEDULES,
    DeviceError,
    DeviceProfile,
    Recipe,
    RecipeError,
    load_device,
    read_toml,
)
from slimtune.trackers import TrackingUriError, check_tracking_uri, redact

_T = TypeVar("_T")

SIZE_OBJECTIVES = {"params": "params", "int8_bytes": "weight_bytes_int8", "macs": "macs"}
SAMPLERS = ("tpe", "nsga2", "random")
# "smallest": the smallest configuration that holds the floor (search/study/_smallest.py);
# "front": the whole accuracy/size Pareto front (picks at any floor read from one study).
STRATEGIES = ("smallest", "front")
# The first trials of a new study: "small" walks up from the small, cheap end of the space
# (search/study/_design.py), "random" leaves them to the sampler's random startup.
INITIAL_DESIGNS = ("small", "random")
# What a candidate's confirmation seeds are judged as: "int8" both the float model and the
# full-integer LiteRT file that ships (as `pull --format tflite-int8` writes it), "float" the
# float model only.
JUDGES = ("int8", "float")
# Which runs get a logged Keras model (search/study/_records.py): every trained trial's ("all"),
# the Pareto front's trials' at the end of the search ("front"), or only the confirmations'
# ("confirmed"). A logged model costs the driver 0.08 s per trial and 3.8 s once, between trials
# (README "Command line": 1.1 s against 0.7 s per trial beyond training, all against front).
LOG_MODELS = ("all", "front", "confirmed")
# Default full recipe: 4x the search's epochs (5 -> 20). Measured on small MNIST models: 20
# epochs lifted the worst seed of five 446-590-param models by 0.5-4.6 points
# (benchmarks/fidelity.py).
FULL_EPOCHS_FACTOR = 4
# Flash and RAM are what the microcontroller really needs: the int8 .tflite file and the TFLM
# arena that runs it (spaces.footprint predicts both before training), not the weights and the
# activations alone (a 3,340-param model: 3,445 weight bytes in an 8,688-byte file, 4,704
# activation bytes in a 7,584-byte arena).
BUDGET_FIELDS = {
    "max_params": "params",
    "max_flash_bytes": "tflite_file_bytes",
    "max_ram_bytes": "tflm_arena_bytes",
    "max_macs": "macs",
}


def option(
    default: Any,
    help: str,
    shown: str | None = None,
    choices: tuple[str, ...] = (),
    flag: str | None = None,
) -> Any:
    """A settings field that is also a `slimtune search` flag: its default, its help text, the
    default as a user reads it (`shown`, else the default itself), the values it takes
    (`choices`) and, for an on/off setting, its flag pair (`flag`, e.g. "--focus/--no-focus")."""
    text = shown if shown is not None else ("none" if default is None else str(default))
    metadata = {"help": help, "shown": text, "choices": choices, "flag": flag}
    return field(default=default, metadata=metadata)


def _bad(name: str, value: Any, fix: str) -> None:
    # Text that would break the one-line message (a newline from a TOML file) is quoted.
    shown = value if not isinstance(value, str) or value.isprintable() else repr(value)
    raise UsageError(f"--{name.replace('_', '-')} {shown}: {fix}")


def _whole_or_none(group: Any, names: tuple[str, ...], fix: str) -> None:
    for name in names:
        value = getattr(group, name)
        if value is not None and value < 1:
            _bad(name, value, fix)


def _one_of(name: str, value: str, allowed: tuple[str, ...] | dict[str, str]) -> None:
    if value not in allowed:
        _bad(name, value, f"use one of {', '.join(allowed)}")


@dataclass(frozen=True)
class DataSettings:
    """Which images, and how many of the training file's are held out."""

    PANEL: ClassVar[str] = "Data"

    dataset: str = option("mnist", "'mnist' or a folder of IDX files / .npz.")
    data_dir: str | None = option(
        None,
        "Local MNIST folder.",
        shown="SLIMTUNE_DATA_DIR, ~/.keras/datasets/mnist.npz, /usr/share/datasets/mnist, "
        "else a Keras download",
    )
    train_subset: int | None = option(None, "Train on the first N training images.", shown="all")
    val_size: int | None = option(
        None,
        "Validation images taken from the end of the training file.",
        shown="a twelfth of it, at most 5000",
    )
    recheck_size: int | None = option(
        None,
        "Training-file images held out to recheck candidates with fresh seeds before the "
        "test split is read (0: confirm on test directly).",
        shown="as --val-size",
    )

    def __post_init__(self) -> None:
        _whole_or_none(self, ("val_size",), "use a whole number of 1 or more")
        _whole_or_none(self, ("train_subset",), "use a whole number of 1 or more, or leave it out")
        if self.recheck_size is not None and self.recheck_size < 0:
            _bad(
                "recheck-size",
                self.recheck_size,
                "use 0 (confirm on the test split directly) or more images, e.g. 5000",
            )

    @property
    def dataset_name(self) -> str:
        return "mnist" if self.dataset == "mnist" else Path(self.dataset).name

    def held_out(self, training_images: int) -> HeldOut:
        """The held-out sizes for a training file of `training_images`: those given, else the
        validation split `held_out_size(training_images)` and a recheck split as large."""
        val_size = self.val_size or held_out_size(training_images)
        return HeldOut(val_size, val_size if self.recheck_size is None else self.recheck_size)


@dataclass(frozen=True)
class TrainingSettings:
    """How every trial trains (`spaces.Recipe` checks the values) and the full recipe that near
    misses and confirmations train with."""

    PANEL: ClassVar[str] = "Training recipe"

    epochs: int = option(Recipe.epochs, "Training epochs per seed.")
    full_epochs: int | None = option(
        None,
        "Epochs of the full recipe: near misses are trained again with it (--strategy "
        "smallest) and candidates are confirmed with it; equal to --epochs turns that off.",
        shown=f"{FULL_EPOCHS_FACTOR} x --epochs",
    )
    batch_size: int = option(Recipe.batch_size, "Batch size.")
    learning_rate: float = option(Recipe.learning_rate, "Adam's peak learning rate.")
    schedule: str = option(
        Recipe.schedule,
        "Learning-rate schedule: cosine decay to 0 over all epochs, or constant.",
        choices=SCHEDULES,
    )

    augment: str = option(
        "none",
        "On-the-fly augmentation of the training images: shift (each image moved by up to a "
        "tenth of its size), affine (also turned by up to 7 degrees and scaled by up to 10%), a "
        "fresh draw per image, seed and epoch; slimtune's own blocks only.",
        choices=AUGMENTATIONS,
    )

    def __post_init__(self) -> None:
        try:
            self.recipe  # noqa: B018  (validates epochs, batch size, learning rate, schedule)
        except RecipeError as exc:
            raise UsageError(str(exc)) from None
        if self.full_epochs is not None and (
            isinstance(self.full_epochs, bool) or self.full_epochs < self.epochs
        ):
            _bad(
                "full-epochs",
                self.full_epochs,
                f"use at least --epochs ({self.epochs}); "
                "equal to it turns promotion off and confirms with --epochs",
            )

    @cached_property
    def recipe(self) -> Recipe:
        return Recipe(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            schedule=self.schedule,
            augment=self.augment,
        )

    @property
    def full_recipe(self) -> Recipe:
        """The recipe with the full epochs: what a promoted near miss and every confirmation
        train with, so the registered model is one of it."""
        return replace(self.recipe, epochs=self.full_epochs or FULL_EPOCHS_FACTOR * self.epochs)


@dataclass(frozen=True)
class StrategySettings:
    """What is searched and how the planner walks it."""

    PANEL: ClassVar[str] = "Strategy"

    space: str | None = option(None, "Search-space TOML.", shown="spaces/default.toml")
    # A Keras Tuner HyperModel searched instead of a space: MODULE:NAME or path/to/file.py:NAME.
    hypermodel: str | None = option(
        None,
        "Search a Keras Tuner HyperModel instead of a space: MODULE:NAME or "
        "path/to/file.py:NAME, NAME a build(hp) function or kt.HyperModel.",
    )
    strategy: str = option(
        "smallest",
        "smallest: the smallest model that holds the floor; front: the whole accuracy/size front.",
        choices=STRATEGIES,
    )
    sampler: str = option("tpe", "Optuna sampler under the strategy.", choices=SAMPLERS)
    initial_design: str = option(
        "small",
        "A new study's first trials: small walks up from the smallest, cheapest "
        "configurations of the space (one per size band); random leaves them to the sampler.",
        choices=INITIAL_DESIGNS,
    )
    seed: int = option(0, "Sampler and training seed base.")
    early_stopping: bool = option(
        True,
        "Race seeds and stop trials that cannot reach the floor or improve the front.",
        shown="on",
        flag="--early-stopping/--no-early-stopping",
    )
    # search/study/_focus.py: only configurations below the smallest feasible one are trained;
    # None: on under --strategy smallest (measured: benchmarks/search_efficiency.py), off under
    # front.
    focus: bool | None = option(
        None,
        "Spend the budget on new configurations smaller than the smallest feasible one "
        "found so far; larger ones are pruned untrained (see README).",
        shown="on with --strategy smallest, off with front",
        flag="--focus/--no-focus",
    )
    # search/study/_shrink.py: under smallest + focus, every other trained trial is a smaller
    # neighbour of the smallest feasible configuration (measured: benchmarks/search_efficiency.py)
    shrink: bool = option(
        True,
        "With --strategy smallest and focus: every other trained trial makes one part of "
        "the smallest feasible configuration smaller (see README).",
        shown="on",
        flag="--shrink/--no-shrink",
    )
    size_objective: str = option("params", "What 'smaller' means.", choices=tuple(SIZE_OBJECTIVES))

    def __post_init__(self) -> None:
        if self.space is not None and self.hypermodel is not None:
            _bad("hypermodel", self.hypermodel, "give either --space or --hypermodel, not both")
        _one_of("strategy", self.strategy, STRATEGIES)
        _one_of("sampler", self.sampler, SAMPLERS)
        _one_of("initial-design", self.initial_design, INITIAL_DESIGNS)
        _one_of("size-objective", self.size_objective, SIZE_OBJECTIVES)
        check_seed_base(self.seed)


@dataclass(frozen=True)
class SelectionRule:
    """What a model must reach, over how many seeds, and how many candidates are rechecked."""

    PANEL: ClassVar[str] = "Selection rule"

    min_accuracy: float = option(0.95, "Worst-case accuracy floor.")
    # One-sided: the validation margin (see `validation_floor`).
    confidence: float = option(
        0.95,
        "One-sided confidence of the margin a worst case must clear above the floor on "
        "validation and recheck (0.5: none).",
    )
    # Worst of 5 on validation: 3 let lucky seeds through (BENCHMARKS.md).
    seeds: int = option(5, "Seeds per configuration.")
    confirm_candidates: int = option(3, "Candidates rechecked, smallest first.")
    judge: str = option(
        "int8",
        "int8: a candidate holds only if both its float model and its int8 LiteRT file (as "
        "'pull --format tflite-int8' writes it) clear the floor on every seed; float: the float "
        "model only.",
        choices=JUDGES,
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_accuracy <= 1.0:
            _bad("min-accuracy", self.min_accuracy, "use a fraction between 0 and 1, e.g. 0.95")
        if not 0.5 <= self.confidence < 1.0:
            _bad(
                "confidence",
                self.confidence,
                "use a probability in [0.5, 1), e.g. 0.95 (0.5 means no margin)",
            )
        _whole_or_none(self, ("confirm_candidates",), "use a whole number of 1 or more")
        _one_of("judge", self.judge, JUDGES)
        check_seed_count(self.seeds)

    def floor_on(self, images: int) -> float:
        """What a worst-case accuracy measured on `images` images must reach to count: the floor
        plus a one-sided binomial margin z * sqrt(f (1 - f) / n) at the floor f and z of
        `confidence` (0.0051 at 0.95 on 5,000 images). An accuracy measured on n images scatters
        by that much; the margin keeps lucky models out of the candidates."""
        return self.min_accuracy + margin(self.min_accuracy, images, self.confidence)


@dataclass(frozen=True)
class Budgets:
    """Limits on the footprint, given one by one or by a device profile."""

    PANEL: ClassVar[str] = "Budgets"

    max_params: int | None = option(None, "Budget on parameters.")
    max_flash_bytes: int | None = option(None, "Budget on the int8 .tflite file's bytes.")
    max_ram_bytes: int | None = option(
        None, "Budget on the TFLM arena bytes that run the int8 file."
    )
    max_macs: int | None = option(None, "Budget on multiply-accumulates per image.")
    device: str | None = option(
        None,
        "Device profile (mcu-256k, mcu-1m, phone) or a profile TOML: sets the flash, RAM "
        "and MAC budgets not given above.",
    )

    def __post_init__(self) -> None:
        _whole_or_none(
            self, tuple(BUDGET_FIELDS), "use a whole number of 1 or more, or leave it out"
        )
        if self.device is not None:
            self.device_profile  # noqa: B018  (refuses an unknown profile now, not mid-search)

    @cached_property
    def device_profile(self) -> DeviceProfile | None:
        if self.device is None:
            return None
        try:
            return load_device(self.device)
        except DeviceError as exc:
            raise UsageError(f"--device {self.device}: {exc}") from None

    def limits(self) -> dict[str, tuple[str, int]]:
        """Budget name -> (footprint field, limit) for the budgets that are set; a device profile
        sets those not given explicitly (an explicit flag wins)."""
        from_device = self.device_profile.budgets() if self.device_profile else {}
        limits = {name: getattr(self, name) or from_device.get(name) for name in BUDGET_FIELDS}
        return {
            name: (fp_field, limit)
            for name, fp_field in BUDGET_FIELDS.items()
            if (limit := limits[name]) is not None
        }


@dataclass(frozen=True)
class StudySettings:
    """Which Optuna study, where it is stored, and how much of it this invocation runs."""

    PANEL: ClassVar[str] = "Study and storage"

    study_name: str | None = option(
        None, "Optuna study and MLflow experiment name.", shown="slimtune-<dataset>"
    )
    storage: str | None = option(None, "Optuna RDB URL.", shown="sqlite:///<out>/optuna.db")
    out: str = option("runs/slimtune", "Output folder.")
    trials: int = option(30, "Finished trials the study should hold.")
    # Seconds per invocation, like Optuna's optimize(timeout=).
    timeout: float | None = option(
        None,
        "Seconds after which no new trial starts; running ones finish, then the study is "
        "analysed and confirmed as usual (per invocation, like Optuna's timeout).",
    )

    def __post_init__(self) -> None:
        _whole_or_none(self, ("trials",), "use a whole number of 1 or more")
        if self.timeout is not None and not self.timeout > 0:
            _bad(
                "timeout",
                self.timeout,
                "use a number of seconds above 0, e.g. 3600, or leave it out",
            )
        if self.storage is not None:
            _check_storage_uri(self.storage)


@dataclass(frozen=True)
class ExecutionSettings:
    """Where and how many trainings run at once."""

    PANEL: ClassVar[str] = "Execution"

    workers: int | None = option(
        None, "Trials at once.", shown="the CPU cores this process may use"
    )
    cpus_per_trial: int = option(1, "CPU cores (TensorFlow threads) per trial.")
    max_retries: int = option(2, "Ray retries of a trial whose worker died.")
    ray_address: str | None = option(
        None, "'auto', HOST:PORT or ray://HOST:PORT.", shown="a local Ray"
    )

    def __post_init__(self) -> None:
        _whole_or_none(self, ("cpus_per_trial",), "use a whole number of 1 or more")
        _whole_or_none(self, ("workers",), "use a whole number of 1 or more, or leave it out")
        if self.max_retries < 0:
            _bad("max-retries", self.max_retries, "use 0 or more")
        if self.ray_address is not None:
            _check_ray_address(self.ray_address)


@dataclass(frozen=True)
class TrackingSettings:
    """What MLflow records and registers."""

    PANEL: ClassVar[str] = "Tracking"

    tracking_uri: str | None = option(
        None, "MLflow URI (or MLFLOW_TRACKING_URI).", shown="sqlite:///<out>/mlflow.db"
    )
    model_name: str | None = option(None, "Registered model name.", shown="slimtune-<dataset>")
    # Not in the study's identity: it changes what MLflow holds, never a result, so a resume may
    # change it; the spooled models left by an earlier invocation follow the new value.
    log_models: str = option(
        "front",
        "Which MLflow runs get a logged Keras model: all (every trained trial), front "
        "(the trials on the Pareto front when the search ends) or confirmed (only the "
        "confirmations).",
    )  # a plain string on the command line too: one message for a bad flag and a bad TOML value

    def __post_init__(self) -> None:
        _one_of("log-models", self.log_models, LOG_MODELS)
        if self.tracking_uri is not None:
            _check_tracking_uri(self.tracking_uri)


GROUPS = {
    "data": DataSettings,
    "training": TrainingSettings,
    "strategy": StrategySettings,
    "selection": SelectionRule,
    "budgets": Budgets,
    "study": StudySettings,
    "execution": ExecutionSettings,
    "tracking": TrackingSettings,
}


def setting_fields() -> list[tuple[Any, Field[Any]]]:
    """(group, field) for every setting, in the order `slimtune search --help` shows them."""
    return [(group, f) for group in GROUPS.values() for f in fields(group)]


@dataclass(frozen=True)
class HeldOut:
    """How many training-file images validate trials and recheck candidates."""

    val_size: int
    recheck_size: int


@dataclass(frozen=True)
class SearchSettings:
    """A whole `slimtune search`: one small value per concern. Build it from flag names with
    `of` (or `from_sources`, with a study TOML); `resolved()` fills the defaults that depend on
    the environment (names, paths, the cores, the tracking URI, focus, the budgets of a device)."""

    data: DataSettings = field(default_factory=DataSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    selection: SelectionRule = field(default_factory=SelectionRule)
    budgets: Budgets = field(default_factory=Budgets)
    study: StudySettings = field(default_factory=StudySettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)

    def __post_init__(self) -> None:
        if self.strategy.hypermodel is not None and self.training.augment != "none":
            _bad(
                "augment",
                self.training.augment,
                "leave it out with --hypermodel: a HyperModel "
                "brings its own augmentation layers (e.g. keras.layers.RandomTranslation)",
            )

    @classmethod
    def of(cls, **values: Any) -> SearchSettings:
        """The settings with `values` (flag names with underscores) over the defaults."""
        unknown = sorted(set(values) - {f.name for _, f in setting_fields()})
        if unknown:
            raise TypeError(f"unknown setting {unknown[0]!r}")
        return cls(
            **{
                name: group(**{f.name: values[f.name] for f in fields(group) if f.name in values})
                for name, group in GROUPS.items()
            }
        )

    @classmethod
    def from_sources(cls, config_path: str | None, flags: dict[str, Any]) -> SearchSettings:
        """Defaults, overridden by the study TOML (`--config`), overridden by the flags given."""
        values: dict[str, Any] = {}
        if config_path:
            values |= _read_config(Path(config_path))
        given = {k: v for k, v in flags.items() if v is not None}
        if isinstance(given.get("storage"), str):
            _refuse_password_in_flag(given["storage"])
        return cls.of(**(values | given))

    def with_values(self, **values: Any) -> SearchSettings:
        """These settings with `values` (flag names) replaced."""
        return SearchSettings.of(**(self.to_dict() | values))

    def sized_for(self, training_images: int) -> SizedSettings:
        """These settings, complete for a training file of `training_images` images."""
        return self.with_held_out(self.data.held_out(training_images))

    def with_held_out(self, held_out: HeldOut) -> SizedSettings:
        """These settings, complete with the held-out sizes `held_out`."""
        return SizedSettings(**{name: getattr(self, name) for name in GROUPS}, held_out=held_out)

    def resolved(self) -> ResolvedSettings:
        """The defaults that depend on other settings or the environment, filled in: read them
        as set from the value's typed accessors (`storage`, `tracking_uri`, `workers`...)."""
        from slimtune.trackers import resolve_tracking_uri  # loads numpy: not at CLI start-up

        out = Path(self.study.out).absolute()
        limits: dict[str, Any] = {b: limit for b, (_, limit) in self.budgets.limits().items()}
        name = f"slimtune-{self.data.dataset_name}"
        strategy = self.strategy
        groups = {group: getattr(self, group) for group in GROUPS} | dict(
            training=replace(self.training, full_epochs=self.training.full_recipe.epochs),
            strategy=replace(
                strategy,
                focus=strategy.strategy == "smallest" if strategy.focus is None else strategy.focus,
            ),
            budgets=replace(self.budgets, **limits),
            study=replace(
                self.study,
                study_name=self.study.study_name or name,
                out=str(out),
                storage=self.study.storage or f"sqlite:///{out / 'optuna.db'}",
            ),
            execution=replace(self.execution, workers=self.execution.workers or usable_cpus()),
            tracking=replace(
                self.tracking,
                tracking_uri=resolve_tracking_uri(self.tracking.tracking_uri, out),
                model_name=self.tracking.model_name or name,
            ),
        )
        if isinstance(self, ResolvedSettings):  # sized settings stay sized
            return replace(self, **groups)
        return ResolvedSettings(**groups)

    # --- what depends on several groups ---------------------------------------------------------
    @property
    def promotes(self) -> bool:
        """Whether near misses train again with the full recipe: under --strategy smallest, when
        trials race (promotion judges the first rung's accuracy against the race's threshold)."""
        return (
            self.strategy.strategy == "smallest"
            and self.strategy.early_stopping
            and self.training.full_recipe.epochs > self.training.epochs
        )

    @property
    def search_seeds(self) -> list[int]:
        return search_seeds(self.strategy.seed, self.selection.seeds)

    @property
    def confirm_seeds(self) -> list[int]:
        return confirmation_seeds(self.strategy.seed, self.selection.seeds)

    def to_dict(self) -> dict[str, Any]:
        """Every setting by its flag name (the MLflow parent run's params, the study TOML)."""
        return {
            f.name: getattr(getattr(self, name), f.name)
            for name, group in GROUPS.items()
            for f in fields(group)
        }


@dataclass(frozen=True)
class ResolvedSettings(SearchSettings):
    """Settings whose environment-dependent defaults `SearchSettings.resolved()` filled in. The
    groups keep each field as declared (`X | None` where the flag may be left out); the accessors
    below read the filled values as set, and raise if one is unset (settings sized without
    being resolved, as some tests make them, and that never gave the value)."""

    @property
    def study_name(self) -> str:
        return _filled(self.study.study_name, "study-name")

    @property
    def storage(self) -> str:
        return _filled(self.study.storage, "storage")

    @property
    def workers(self) -> int:
        return _filled(self.execution.workers, "workers")

    @property
    def tracking_uri(self) -> str:
        return _filled(self.tracking.tracking_uri, "tracking-uri")

    @property
    def model_name(self) -> str:
        return _filled(self.tracking.model_name, "model-name")


def _filled(value: _T | None, flag: str) -> _T:
    if value is None:
        raise ValueError(
            f"--{flag} is unset: resolve the settings first (SearchSettings.resolved())"
        )
    return value


@dataclass(frozen=True, kw_only=True)
class SizedSettings(ResolvedSettings):
    """Settings complete for one training file: `held_out` holds the validation and recheck
    sizes, so the floors a trial and a candidate must clear are known. A search sizes settings it
    resolved first; the resolved values are read through `ResolvedSettings`' accessors."""

    held_out: HeldOut

    @property
    def validation_floor(self) -> float:
        """What a worst-case validation accuracy must reach to count as feasible (see
        `SelectionRule.floor_on`)."""
        return self.selection.floor_on(self.held_out.val_size)

    @property
    def recheck_floor(self) -> float:
        """The same rule on the recheck split."""
        return self.selection.floor_on(self.held_out.recheck_size)


def usable_cpus() -> int:
    """The cores this process may run on: its CPU affinity (taskset, cpusets, container limits
    set that way), not the machine's count, so a search pinned to one core runs one trial."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows: no affinity call
        return os.cpu_count() or 1


def held_out_size(training_images: int) -> int:
    """Default size of the validation and of the recheck split: a twelfth of the training file,
    at most 5,000 images (MNIST: the paper's 5,000 of 60,000; a 6,000-image dataset: 500 each)."""
    return max(1, min(5000, training_images // 12))


def margin(floor: float, images: int, confidence: float) -> float:
    """One-sided binomial margin of an accuracy near `floor` measured on `images` images."""
    from statistics import NormalDist

    if images < 1:
        return 0.0
    return NormalDist().inv_cdf(confidence) * (floor * (1.0 - floor) / images) ** 0.5


def _check_storage_uri(uri: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(uri)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in ("sqlite", "postgresql", "mysql"):
        _bad(
            "storage",
            redact(uri),
            "use an RDB URL such as sqlite:///path/optuna.db or postgresql://user@host/db",
        )


def _refuse_password_in_flag(uri: str) -> None:
    """A password given on the command line sits in `ps` output, /proc/*/cmdline, shell history
    and, for `slimtune submit`, the Ray cluster's job table; the driver can read it from the
    environment, a password file or an owner-only study TOML instead."""
    if redact(uri) == uri:
        return
    where = (
        "set PGPASSWORD or put it in ~/.pgpass, or " if uri.lower().startswith("postgresql") else ""
    )
    _bad(
        "storage",
        redact(uri),
        "leave the password off the command line (ps and the Ray job table show it); "
        f"{where}write the URL as storage in a study TOML only you can read "
        "(chmod 600 FILE, then --config FILE)",
    )


def _check_config_secret(path: Path, values: dict[str, Any]) -> None:
    """A study TOML may hold the storage password only when no one else may read the file."""
    storage = values.get("storage")
    if not isinstance(storage, str) or redact(storage) == storage:
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise UsageError(
            f"--config {path}: it holds the storage password ({redact(storage)}) but others may "
            f"read it (mode {mode:o}); make it yours alone with chmod 600 {path}, or leave the "
            "password out and set PGPASSWORD"
        )


def _check_tracking_uri(uri: str) -> None:
    try:
        check_tracking_uri(uri)
    except TrackingUriError as exc:
        raise UsageError(str(exc)) from None


def _check_ray_address(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address != "auto" and not (host.strip("[]") and port.isdigit() and 0 < int(port) < 65536):
        _bad(
            "ray-address",
            address,
            "use 'auto', HOST:PORT (the head's GCS, e.g. "
            "10.0.0.5:6379) or ray://HOST:PORT, or leave it out for a local Ray",
        )


def _read_config(path: Path) -> dict[str, Any]:
    data = read_toml(path, UsageError, f"--config {path}", "pass an existing TOML file")
    values = {key.replace("-", "_"): value for key, value in data.items()}
    hints = {f.name: get_type_hints(group)[f.name] for group, f in setting_fields()}
    for written, value in data.items():
        key = written.replace("-", "_")
        if key not in hints:  # named as the file writes it
            raise UsageError(
                f"--config {path}: unknown key {written!r}; use the names of "
                "`slimtune search` flags, e.g. min-accuracy"
            )
        allowed = tuple(t for t in get_args(hints[key]) or (hints[key],) if t is not type(None))
        if float in allowed:
            allowed += (int,)
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise UsageError(
                f"--config {path}: {key} = {value!r} should be "
                f"{allowed[0].__name__}; fix it in the file"
            )
    _check_config_secret(path, values)
    return values
