"""A Keras Tuner HyperModel as a search space: `build(hp)` (or a `kt.HyperModel`) searched with
Optuna.

Keras Tuner's hyperparameters are define-by-run, as Optuna's are: `build` asks for a value when
it reaches `hp.Int(...)`. So a proposal is drawn by running `build` once on a
`kt.HyperParameters` whose new, active hyperparameters take their value from the Optuna trial
(`trial.suggest_*`) instead of their default; a conditional branch (a Python `if`, or
`parent_name`/`parent_values`) is sampled exactly when it is reached, and an inactive one never.
The values drawn (`HyperModelConfig.values`) rebuild exactly that model on any machine: a
`kt.HyperParameters` pre-populated with them returns them (Keras Tuner keeps a populated value).

Translation (`distribution`), one Optuna distribution per hyperparameter kind:
- hp.Int(min, max, step) -> IntDistribution(min, max, step) (step 1 when unset);
  sampling="log" -> IntDistribution(log=True); log with a step (a factor in Keras Tuner) ->
  CategoricalDistribution of its values.
- hp.Float(min, max, step) -> FloatDistribution(min, max, step); sampling="log" -> log=True;
  log with a step -> the categorical of its values. "reverse_log" without a step has no Optuna
  equivalent and is refused.
- hp.Choice(values) -> CategoricalDistribution(values); hp.Boolean -> [False, True].
- hp.Fixed(value) -> no distribution: the value is set, never sampled.

TensorFlow/Keras and Keras Tuner are imported only when a model is built.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimtune.spaces._config import CNNConfig
from slimtune.spaces._footprint import Footprint
from slimtune.spaces._native import quiet_native_stderr
from slimtune.spaces._space import SpaceError
from slimtune.spaces._walk import footprint_of_model

if TYPE_CHECKING:
    from importlib.abc import Loader
    from types import ModuleType

    import keras
    import keras_tuner as kt

SUMMARY_MAX = 100  # a summary names spooled model files: kept short


class HyperModelError(SpaceError):
    """The HyperModel cannot be loaded, or does not fit the data; the message names it and the
    fix (a SpaceError: the CLI prints it as one line with exit code 2)."""


class BuildFailed(ValueError):
    """`build(hp)` raised for one proposal; `values` are the hyperparameters drawn until then."""

    def __init__(self, message: str, values: dict[str, Any]) -> None:
        super().__init__(message)
        self.values = values


@dataclass(frozen=True)
class HyperModelConfig:
    """One point of a HyperModel's space: the active hyperparameter values of one `build`.

    `hypermodel` is the spec (MODULE:NAME or /abs/path/file.py:NAME). `footprint` is what the
    planner measured when it built the model (not part of the value's identity)."""

    hypermodel: str
    values: tuple[tuple[str, Any], ...]
    footprint: Footprint | None = field(default=None, compare=False, repr=False)
    unknown_layer: str | None = field(default=None, compare=False, repr=False)

    @property
    def value_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"hypermodel": self.hypermodel, "values": self.value_dict}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperModelConfig:
        return cls(hypermodel=str(data["hypermodel"]), values=tuple(data["values"].items()))

    def summary(self) -> str:
        """`name=value|...` in the order `build` asked for them; hashed when long. Safe as part of
        a file name ('/' of Keras Tuner name scopes becomes '.')."""
        text = "|".join(f"{name}={_short(value)}" for name, value in self.values) or "defaults"
        text = text.replace("/", ".").replace(" ", "")
        if len(text) <= SUMMARY_MAX:
            return text
        digest = hashlib.sha1(
            json.dumps(self.to_dict()["values"], sort_keys=True, default=str).encode()
        ).hexdigest()[:10]
        return f"{text[: SUMMARY_MAX - 12]}~{digest}"


def _short(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def is_hypermodel_config(data: Any) -> bool:
    """Whether `data` (a config value or its dict) is a HyperModel point, not a CNNConfig."""
    return isinstance(data, HyperModelConfig) or (isinstance(data, dict) and "hypermodel" in data)


def config_from_dict(data: dict[str, Any]) -> CNNConfig | HyperModelConfig:
    """The point a stored or sent dict describes: a HyperModel point or a CNNConfig."""
    return (
        HyperModelConfig.from_dict(data)
        if is_hypermodel_config(data)
        else CNNConfig.from_dict(data)
    )


@dataclass(frozen=True)
class HyperModelSpace:
    """The space of a user's HyperModel, named by `hypermodel` (see `load_build`)."""

    hypermodel: str

    def to_dict(self) -> dict[str, Any]:
        return {"hypermodel": self.hypermodel}

    def suggest(self, trial: Any) -> HyperModelConfig:
        """Draw one point by building it (`trial`: an Optuna trial, or anything with
        suggest_int/suggest_float/suggest_categorical). The built model's footprint travels with
        the point (`spaces.footprint_of_model`, with the layer it does not know, if any). Raises
        BuildFailed when `build` raises or returns no built Keras model."""
        build = load_build(self.hypermodel)
        hp = _sampling_hyperparameters(trial)
        model = _call_build(build, hp)
        measured = footprint_of_model(model)
        return HyperModelConfig(
            self.hypermodel, tuple(hp.values.items()), measured.footprint, measured.unknown_layer
        )

    def build(self, config: HyperModelConfig | dict[str, Any]) -> keras.Model:
        """The model of `config`, built again from its values (as a worker does)."""
        config = (
            config if isinstance(config, HyperModelConfig) else HyperModelConfig.from_dict(config)
        )
        return build_config(config)

    def contains(self, config: Any) -> bool:
        return isinstance(config, HyperModelConfig) and config.hypermodel == self.hypermodel


def build_config(config: HyperModelConfig) -> keras.Model:
    """`build(hp)` with `hp` holding exactly `config.values`. Raises BuildFailed."""
    return _call_build(load_build(config.hypermodel), hyperparameters(config.value_dict))


def hyperparameters(values: dict[str, Any]) -> kt.HyperParameters:
    """A `kt.HyperParameters` pre-populated with `values`: `build` gets exactly those back."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.values = dict(values)
    return hp


def _call_build(build: Callable[[Any], Any], hp: Any) -> keras.Model:
    import keras

    try:
        model = build(hp)
    except Exception as exc:  # any error of user code fails this proposal, not the study
        raise BuildFailed(
            f"build(hp) raised {type(exc).__name__}: {exc}", dict(hp.values)
        ) from None
    if not isinstance(model, keras.Model):
        raise BuildFailed(
            f"build(hp) returned {type(model).__name__}, not a keras.Model", dict(hp.values)
        )
    if not model.built:  # e.g. keras.Sequential([...]) without an Input: no shapes until fit
        raise BuildFailed(
            "build(hp) returned a model without an input shape; start it with "
            "keras.Input(shape=(H, W, C)) so its footprint is known before "
            "training",
            dict(hp.values),
        )
    return model


def _sampling_hyperparameters(trial: Any) -> kt.HyperParameters:
    """A `kt.HyperParameters` whose new active hyperparameters draw their value from `trial`."""
    import keras_tuner as kt

    class Sampling(kt.HyperParameters):
        def _register(self, hyperparameter: Any, overwrite: bool = False) -> Any:
            if self.is_active(hyperparameter) and hyperparameter.name not in self.values:
                self.values[hyperparameter.name] = suggest(trial, hyperparameter)
            return super()._register(hyperparameter, overwrite)

    return Sampling()


def suggest(trial: Any, hp: Any) -> Any:
    """The value of Keras Tuner hyperparameter `hp` drawn from `trial` (its distribution is
    `distribution(hp)`); a Fixed one is its value."""
    import optuna

    dist = distribution(hp)
    if dist is None:
        return hp.value
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(hp.name, list(dist.choices))
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(hp.name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(hp.name, dist.low, dist.high, step=dist.step, log=dist.log)


def distribution(hp: Any) -> Any:
    """The Optuna distribution of Keras Tuner hyperparameter `hp` (module docstring); None for
    hp.Fixed. Raises HyperModelError for one without an Optuna equivalent."""
    import keras_tuner as kt
    import optuna.distributions as od

    if isinstance(hp, kt.engine.hyperparameters.Fixed):
        return None
    if isinstance(hp, kt.engine.hyperparameters.Boolean):
        return od.CategoricalDistribution([False, True])
    if isinstance(hp, kt.engine.hyperparameters.Choice):
        return od.CategoricalDistribution(list(hp.values))
    is_int = isinstance(hp, kt.engine.hyperparameters.Int)
    if not is_int and not isinstance(hp, kt.engine.hyperparameters.Float):
        raise HyperModelError(
            f"hyperparameter {hp.name!r} is a {type(hp).__name__}; slimtune "
            "translates hp.Int, hp.Float, hp.Choice, hp.Boolean and hp.Fixed"
        )
    if hp.sampling != "linear" and hp.step is not None:
        # Keras Tuner multiplies by the step on a log scale: a finite list of values.
        return od.CategoricalDistribution(list(hp.values))
    if hp.sampling == "reverse_log":
        raise HyperModelError(
            f"hyperparameter {hp.name!r}: sampling='reverse_log' without a step "
            "has no Optuna equivalent; use sampling='log' or give a step"
        )
    log = hp.sampling == "log"
    if is_int:
        return od.IntDistribution(
            int(hp.min_value), int(hp.max_value), log=log, step=1 if log else int(hp.step or 1)
        )
    return od.FloatDistribution(
        float(hp.min_value),
        float(hp.max_value),
        log=log,
        step=None if log or hp.step is None else float(hp.step),
    )


def search_space(hypermodel: str, max_builds: int = 64) -> dict[str, Any]:
    """Every hyperparameter `build` can ask for -> its Optuna distribution (None for hp.Fixed).

    `build` runs on a recording `kt.HyperParameters` with the defaults, then again with each value
    of every categorical hyperparameter (Choice, Boolean) to reveal the branches it opens, until
    no new one appears (at most `max_builds` builds). Raises BuildFailed if a build raises."""
    build = load_build(hypermodel)
    found: dict[str, Any] = {}
    tried: set[str] = set()
    queue: list[dict[str, Any]] = [{}]
    while queue and len(tried) < max_builds:
        values = queue.pop(0)
        key = json.dumps(values, sort_keys=True, default=str)
        if key in tried:
            continue
        tried.add(key)
        hp = hyperparameters(values)
        _call_build(build, hp)
        for spec in hp.space:
            if spec.name in found:
                continue
            found[spec.name] = distribution(spec)
            choices = getattr(found[spec.name], "choices", ())
            if hp.is_active(spec):
                queue += [
                    {**hp.values, spec.name: choice}
                    for choice in choices
                    if choice != hp.values.get(spec.name)
                ]
    return found


@lru_cache(maxsize=8)
def load_build(hypermodel: str) -> Callable[[Any], Any]:
    """The `build(hp)` callable that `hypermodel` names: MODULE:NAME (importable) or
    path/to/file.py:NAME, NAME being a function, a `kt.HyperModel` subclass (made with no
    arguments) or instance. Raises HyperModelError naming the module and the name."""
    where, sep, name = hypermodel.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise HyperModelError(
            f"--hypermodel {hypermodel}: expected MODULE:NAME or "
            "path/to/file.py:NAME, e.g. mymodels:build"
        )
    with _quiet_stderr():  # the user's module imports Keras, and so TensorFlow, first
        module = _import(hypermodel, where)
        import keras_tuner as kt
    if not hasattr(module, name):
        raise HyperModelError(
            f"--hypermodel {hypermodel}: {where} has no {name!r}; name its "
            "build function or kt.HyperModel subclass"
        )
    target = getattr(module, name)
    if isinstance(target, type) and issubclass(target, kt.HyperModel):
        try:
            target = target()
        except Exception as exc:
            raise HyperModelError(
                f"--hypermodel {hypermodel}: {name}() raised "
                f"{type(exc).__name__}: {exc}; it must be creatable without "
                "arguments (or name an instance)"
            ) from None
    if isinstance(target, kt.HyperModel):
        return target.build
    if not callable(target):
        raise HyperModelError(
            f"--hypermodel {hypermodel}: {name} is a {type(target).__name__}, "
            "not a build(hp) function or kt.HyperModel"
        )
    return target


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """TensorFlow's C++ start-up notes go to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL
    says; keep them out of the CLI's one-line errors (a HyperModelError is one already)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr(explained=(HyperModelError,)):
        yield


def _import(hypermodel: str, where: str) -> Any:
    module: ModuleType | None = None  # a path/to/file.py, loaded by `loader`
    loader: Loader | None = None
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise HyperModelError(
                f"--hypermodel {hypermodel}: no file {where}; pass "
                "path/to/file.py:NAME of an existing file"
            )
        module_name = (
            f"_slimtune_hypermodel_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
        )
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:  # not for a .py file: its loader is known
            raise HyperModelError(
                f"--hypermodel {hypermodel}: {where} is not importable as a Python file; pass "
                "path/to/file.py:NAME"
            )
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look the module up
        loader = spec.loader
    try:
        if module is not None and loader is not None:
            loader.exec_module(module)
            return module
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name == where or where.startswith(f"{exc.name}."):
            raise HyperModelError(
                f"--hypermodel {hypermodel}: no module named {where!r}; put "
                "its folder on PYTHONPATH or pass path/to/file.py:NAME"
            ) from None
        raise HyperModelError(
            f"--hypermodel {hypermodel}: importing {where} failed: ModuleNotFoundError: {exc}"
        ) from None
    except Exception as exc:
        raise HyperModelError(
            f"--hypermodel {hypermodel}: importing {where} failed: {type(exc).__name__}: {exc}"
        ) from None


def resolve_hypermodel(hypermodel: str) -> str:
    """`hypermodel` with a file path made absolute (workers may run in another folder); checks
    that it loads (HyperModelError otherwise)."""
    where, sep, name = hypermodel.rpartition(":")
    if sep and where.endswith(".py"):
        hypermodel = f"{Path(where).resolve()}:{name}"
    load_build(hypermodel)
    return hypermodel


def check_fits(
    model: keras.Model, hypermodel: str, input_shape: tuple[int, ...], num_classes: int
) -> None:
    """HyperModelError unless `model` takes images of `input_shape` and has `num_classes`
    outputs."""
    takes = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    outputs = model.output_shape[-1] if not isinstance(model.output_shape, list) else None
    if takes != tuple(input_shape) or outputs != num_classes:
        raise HyperModelError(
            f"--hypermodel {hypermodel}: the model takes {takes} and has {outputs} outputs, but "
            f"the data are images of {tuple(input_shape)} with {num_classes} classes; build it "
            f"with keras.Input(shape={tuple(input_shape)}) and a last Dense({num_classes})"
        )
