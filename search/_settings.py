"""Every `slimtune search` setting, validated in one place, from flags and/or a study TOML."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any, get_args, get_type_hints

from search._errors import UsageError
from search.training._seeds import (check_seed_base, check_seed_count, confirmation_seeds,
                                    search_seeds)
from spaces import DeviceError, DeviceProfile, Recipe, RecipeError, load_device, read_toml
from trackers import resolve_tracking_uri

SIZE_OBJECTIVES = {"params": "params", "int8_bytes": "weight_bytes_int8", "macs": "macs"}
SAMPLERS = ("tpe", "nsga2", "random")
# "smallest": the smallest configuration that holds the floor (search/study/_smallest.py);
# "front": the whole accuracy/size Pareto front (picks at any floor read from one study).
STRATEGIES = ("smallest", "front")
# Which runs get a logged Keras model (search/study/_records.py): every trained trial's ("all"),
# the Pareto front's trials' at the end of the search ("front"), or only the confirmations'
# ("confirmed"). A logged model costs the driver 0.08 s per trial and 3.8 s once, between trials
# (README "Command line": 1.1 s against 0.7 s per trial beyond training, all against front).
LOG_MODELS = ("all", "front", "confirmed")
# Default full recipe: 4x the search's epochs (5 -> 20). Measured on small MNIST models: 20
# epochs lifted the worst seed of five 446-590-param models by 0.5-4.6 points (BENCHMARKS.md §9a).
FULL_EPOCHS_FACTOR = 4
BUDGET_FIELDS = {"max_params": "params", "max_flash_bytes": "weight_bytes_int8",
                 "max_ram_bytes": "peak_activation_bytes_int8", "max_macs": "macs"}


def usable_cpus() -> int:
    """The cores this process may run on: its CPU affinity (taskset, cpusets, container limits
    set that way), not the machine's count, so a search pinned to one core runs one trial."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows: no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True)
class SearchSettings:
    dataset: str = "mnist"
    data_dir: str | None = None
    space: str | None = None
    # A Keras Tuner HyperModel searched instead of a space: MODULE:NAME or path/to/file.py:NAME.
    hypermodel: str | None = None
    train_subset: int | None = None
    val_size: int | None = None  # None: held_out_size(training-file images), see sized_for
    trials: int = 30
    timeout: float | None = None  # seconds per invocation, like Optuna's optimize(timeout=)
    seeds: int = 5  # worst of 5 on validation: BENCHMARKS.md §9c (3 let lucky seeds through)
    epochs: int = Recipe.epochs  # the recipe's defaults live in spaces.Recipe
    # The full recipe's epochs: near misses are trained again with it (promotion) and candidates
    # are confirmed with it. None: FULL_EPOCHS_FACTOR x epochs (see full_recipe).
    full_epochs: int | None = None
    batch_size: int = Recipe.batch_size
    learning_rate: float = Recipe.learning_rate
    schedule: str = Recipe.schedule
    min_accuracy: float = 0.95
    confidence: float = 0.95  # one-sided: the validation margin (see validation_floor)
    recheck_size: int | None = None  # training-file images held out to recheck; None: as val
    max_params: int | None = None
    max_flash_bytes: int | None = None
    max_ram_bytes: int | None = None
    max_macs: int | None = None
    device: str | None = None
    size_objective: str = "params"
    sampler: str = "tpe"
    strategy: str = "smallest"
    early_stopping: bool = True  # racing over seeds + per-epoch stopping (search/_stopping.py)
    # search/study/_focus.py: only configurations below the smallest feasible one are trained;
    # None: on under --strategy smallest (measured: BENCHMARKS.md §8), off under front
    focus: bool | None = None
    # search/study/_shrink.py: under smallest + focus, every other trained trial is a smaller
    # neighbour of the smallest feasible configuration (measured: BENCHMARKS.md §9)
    shrink: bool = True
    seed: int = 0
    study_name: str | None = None
    storage: str | None = None
    out: str = "runs/slimtune"
    workers: int | None = None
    cpus_per_trial: int = 1
    max_retries: int = 2
    ray_address: str | None = None
    tracking_uri: str | None = None
    model_name: str | None = None
    confirm_candidates: int = 3
    # Not in the study's identity: it changes what MLflow holds, never a result, so a resume may
    # change it; the spooled models left by an earlier invocation follow the new value.
    log_models: str = "front"

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_accuracy <= 1.0:
            _bad("min-accuracy", self.min_accuracy, "use a fraction between 0 and 1, e.g. 0.95")
        if not 0.5 <= self.confidence < 1.0:
            _bad("confidence", self.confidence, "use a probability in [0.5, 1), e.g. 0.95 (0.5 "
                 "means no margin)")
        if self.recheck_size is not None and self.recheck_size < 0:
            _bad("recheck-size", self.recheck_size, "use 0 (confirm on the test split directly) "
                 "or more images, e.g. 5000")
        if self.space is not None and self.hypermodel is not None:
            _bad("hypermodel", self.hypermodel, "give either --space or --hypermodel, not both")
        if self.strategy not in STRATEGIES:
            _bad("strategy", self.strategy, f"use one of {', '.join(STRATEGIES)}")
        for name in ("trials", "cpus_per_trial", "confirm_candidates", "val_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                _bad(name, getattr(self, name), "use a whole number of 1 or more")
        check_seed_count(self.seeds)
        check_seed_base(self.seed)
        try:
            self.recipe  # noqa: B018  (validates epochs, batch size and learning rate)
        except RecipeError as exc:
            raise UsageError(str(exc)) from None
        if self.full_epochs is not None and (isinstance(self.full_epochs, bool)
                                             or self.full_epochs < self.epochs):
            _bad("full-epochs", self.full_epochs, f"use at least --epochs ({self.epochs}); equal "
                 "to it turns promotion off and confirms with --epochs")
        if self.device is not None:
            self.device_profile  # noqa: B018  (refuses an unknown profile now, not mid-search)
        for name in ("train_subset", "max_params", "max_flash_bytes", "max_ram_bytes", "max_macs",
                     "workers"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                _bad(name, getattr(self, name), "use a whole number of 1 or more, or leave it out")
        if self.timeout is not None and not self.timeout > 0:
            _bad("timeout", self.timeout, "use a number of seconds above 0, e.g. 3600, or leave it "
                 "out")
        if self.max_retries < 0:
            _bad("max-retries", self.max_retries, "use 0 or more")
        if self.size_objective not in SIZE_OBJECTIVES:
            _bad("size-objective", self.size_objective, f"use one of {', '.join(SIZE_OBJECTIVES)}")
        if self.sampler not in SAMPLERS:
            _bad("sampler", self.sampler, f"use one of {', '.join(SAMPLERS)}")
        if self.log_models not in LOG_MODELS:
            _bad("log-models", self.log_models, f"use one of {', '.join(LOG_MODELS)}")
        if self.storage is not None:
            _check_storage_uri(self.storage)
        if self.tracking_uri is not None:
            _check_tracking_uri(self.tracking_uri)
        if self.ray_address is not None:
            _check_ray_address(self.ray_address)

    @classmethod
    def from_sources(cls, config_path: str | None, flags: dict[str, Any]) -> SearchSettings:
        """Defaults, overridden by the study TOML (`--config`), overridden by the flags given."""
        values: dict[str, Any] = {}
        if config_path:
            values |= _read_config(Path(config_path))
        values |= {k: v for k, v in flags.items() if v is not None}
        return cls(**values)

    # --- derived values -------------------------------------------------------------------------
    @cached_property
    def recipe(self) -> Recipe:
        """How every trial trains (spaces.Recipe checks the values)."""
        return Recipe(epochs=self.epochs, batch_size=self.batch_size,
                      learning_rate=self.learning_rate, schedule=self.schedule)

    @property
    def full_recipe(self) -> Recipe:
        """The recipe with the full epochs: what a promoted near miss and every confirmation
        train with, so the registered model is one of it."""
        return replace(self.recipe, epochs=self.full_epochs or FULL_EPOCHS_FACTOR * self.epochs)

    @property
    def promotes(self) -> bool:
        """Whether near misses train again with the full recipe: under --strategy smallest, when
        trials race (promotion judges the first rung's accuracy against the race's threshold)."""
        return self.strategy == "smallest" and self.early_stopping and \
            self.full_recipe.epochs > self.epochs

    def sized_for(self, training_images: int) -> SearchSettings:
        """The held-out sizes left to their default, filled from the training file's size: the
        validation split `held_out_size(training_images)`, the recheck split as large."""
        val_size = self.val_size or held_out_size(training_images)
        return replace(self, val_size=val_size,
                       recheck_size=val_size if self.recheck_size is None else self.recheck_size)

    @property
    def validation_floor(self) -> float:
        """What a worst-case validation accuracy must reach to count as feasible: the floor plus
        a one-sided binomial margin z * sqrt(f (1 - f) / n) for n validation images at the floor f
        and z of `confidence` (0.0051 at 0.95 on 5,000 images). An accuracy measured on n
        images scatters by that much; the margin keeps lucky models out of the candidates."""
        return self.min_accuracy + margin(self.min_accuracy, self.val_size, self.confidence)

    @property
    def recheck_floor(self) -> float:
        """The same rule on the recheck split."""
        return self.min_accuracy + margin(self.min_accuracy, self.recheck_size, self.confidence)

    @cached_property
    def device_profile(self) -> DeviceProfile | None:
        if self.device is None:
            return None
        try:
            return load_device(self.device)
        except DeviceError as exc:
            raise UsageError(f"--device {self.device}: {exc}") from None

    @property
    def search_seeds(self) -> list[int]:
        return search_seeds(self.seed, self.seeds)

    @property
    def confirm_seeds(self) -> list[int]:
        return confirmation_seeds(self.seed, self.seeds)

    @property
    def dataset_name(self) -> str:
        return "mnist" if self.dataset == "mnist" else Path(self.dataset).name

    def resolved(self) -> SearchSettings:
        """Fill the defaults that depend on other settings or the environment."""
        study = self.study_name or f"slimtune-{self.dataset_name}"
        out = Path(self.out).absolute()
        return replace(
            self, study_name=study, out=str(out),
            storage=self.storage or f"sqlite:///{out / 'optuna.db'}",
            workers=self.workers or usable_cpus(),
            tracking_uri=resolve_tracking_uri(self.tracking_uri, out),
            model_name=self.model_name or f"slimtune-{self.dataset_name}",
            focus=self.strategy == "smallest" if self.focus is None else self.focus,
            full_epochs=self.full_recipe.epochs,
            **{name: limit for name, (_, limit) in self.budgets().items()})

    def budgets(self) -> dict[str, tuple[str, int]]:
        """Budget name -> (footprint field, limit) for the budgets that are set; a device profile
        sets those not given explicitly (an explicit flag wins)."""
        from_device = self.device_profile.budgets() if self.device_profile else {}
        limits = {name: getattr(self, name) or from_device.get(name) for name in BUDGET_FIELDS}
        return {name: (field, limits[name]) for name, field in BUDGET_FIELDS.items()
                if limits[name] is not None}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def held_out_size(training_images: int) -> int:
    """Default size of the validation and of the recheck split: a twelfth of the training file,
    at most 5,000 images (MNIST: the paper's 5,000 of 60,000; a 6,000-image dataset: 500 each)."""
    return max(1, min(5000, training_images // 12))


def margin(floor: float, images: int | None, confidence: float) -> float:
    """One-sided binomial margin of an accuracy near `floor` measured on `images` images."""
    from statistics import NormalDist

    if images is None:
        raise ValueError("held-out sizes are not resolved yet: call sized_for first")
    if images < 1:
        return 0.0
    return NormalDist().inv_cdf(confidence) * (floor * (1.0 - floor) / images) ** 0.5


def redact(uri: str) -> str:
    """`uri` with its password, if any, replaced by ***: URIs appear in logs, tags, result.json."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if not parts.password:
        return uri
    user_info, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user_info.split(':', 1)[0]}:***@{host}"))


def _bad(name: str, value: Any, fix: str) -> None:
    # Text that would break the one-line message (a newline from a TOML file) is quoted.
    shown = value if not isinstance(value, str) or value.isprintable() else repr(value)
    raise UsageError(f"--{name.replace('_', '-')} {shown}: {fix}")


def _check_storage_uri(uri: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(uri)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in ("sqlite", "postgresql", "mysql"):
        _bad("storage", redact(uri), "use an RDB URL such as sqlite:///path/optuna.db or "
             "postgresql://user@host/db")


# Stores an MLflow 3 client writes to; its file store ('./mlruns', file://) is in maintenance
# mode and refuses to start, so it is refused here, before anything is created.
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def _check_tracking_uri(uri: str) -> None:
    if redact(uri) != uri:
        _bad("tracking-uri", redact(uri), "leave the password out of the URI and set "
             "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead")
    from urllib.parse import urlsplit

    scheme = urlsplit(uri).scheme.split("+")[0].lower()
    if scheme not in TRACKING_SCHEMES:
        _bad("tracking-uri", uri, "use sqlite:///PATH/mlflow.db or an MLflow server's "
             "http(s)://HOST:PORT (MLflow's file store is not supported); MLFLOW_TRACKING_URI "
             "takes the same values")


def _check_ray_address(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address != "auto" and not (host.strip("[]") and port.isdigit() and 0 < int(port) < 65536):
        _bad("ray-address", address, "use 'auto', HOST:PORT (the head's GCS, e.g. "
             "10.0.0.5:6379) or ray://HOST:PORT, or leave it out for a local Ray")


def _read_config(path: Path) -> dict[str, Any]:
    data = read_toml(path, UsageError, f"--config {path}", "pass an existing TOML file")
    known = {f.name for f in fields(SearchSettings)}
    values = {key.replace("-", "_"): value for key, value in data.items()}
    hints = get_type_hints(SearchSettings)
    for key, value in values.items():
        if key not in known:
            raise UsageError(f"--config {path}: unknown key {key!r}; use the names of "
                             "`slimtune search` flags, e.g. min-accuracy")
        allowed = tuple(t for t in get_args(hints[key]) or (hints[key],) if t is not type(None))
        if float in allowed:
            allowed += (int,)
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise UsageError(f"--config {path}: {key} = {value!r} should be "
                             f"{allowed[0].__name__}; fix it in the file")
    return values
