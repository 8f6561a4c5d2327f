"""The declarative CNN search space: an immutable value that round-trips to TOML and JSON."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from slimtune.spaces._config import HEADS, CNNConfig, ConvBlock
from slimtune.spaces._toml import read_toml

KERNEL_SIZES = (1, 3, 5, 7)
POOL_SIZES = (1, 2, 4)
PADDINGS = ("same", "valid")
DEFAULT_SPACE_PATH = Path(__file__).with_name("default.toml")


class SpaceError(ValueError):
    """A space file or value is invalid; the message names the key, the value and the fix."""


class Suggester(Protocol):
    """What `SearchSpace.suggest` needs; an `optuna.Trial` is one."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class SearchSpace:
    """Ranges are inclusive (low, high) pairs sampled on a log scale where marked; the rest are
    choices. ``pool`` 1 means no pooling; ``dense_optional`` adds "no hidden layer" to dense_units.
    ``separable`` (per block) and ``batch_norm`` (per network) are choices of true/false."""

    blocks: tuple[int, int] = (1, 3)
    kernel_size: tuple[int, ...] = KERNEL_SIZES
    filters: tuple[int, int] = (1, 64)  # log scale
    pool: tuple[int, ...] = POOL_SIZES
    padding: tuple[str, ...] = ("same",)
    separable: tuple[bool, ...] = (False,)
    batch_norm: tuple[bool, ...] = (False,)
    head: tuple[str, ...] = HEADS
    dense_units: tuple[int, int] = (8, 1024)  # log scale
    dense_optional: bool = True
    dropout: tuple[float, ...] = (0.0, 0.5)

    def __post_init__(self) -> None:
        _check_range(self, "blocks", 1, 8)
        _check_choices(self, "kernel_size", KERNEL_SIZES)
        _check_range(self, "filters", 1, 1024)
        _check_choices(self, "pool", POOL_SIZES)
        _check_choices(self, "padding", PADDINGS)
        _check_flags(self, "separable")
        _check_flags(self, "batch_norm")
        _check_choices(self, "head", HEADS)
        _check_range(self, "dense_units", 1, 65536)
        if not isinstance(self.dense_optional, bool):
            raise SpaceError(
                f"space key 'dense_optional' = {self.dense_optional!r}: expected true "
                "or false; fix the value in the space TOML"
            )
        if not self.dropout or any(
            not (isinstance(d, (int, float)) and 0.0 <= d < 1.0) for d in self.dropout
        ):
            raise SpaceError(
                f"space key 'dropout' = {list(self.dropout)!r}: expected rates in "
                "[0, 1); fix the value in the space TOML"
            )

    # --- round trip ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise SpaceError(
                    f"unknown space key {key!r}; expected one of {sorted(known)}; "
                    "remove or rename it in the space TOML"
                )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "dense_optional":
                values[key] = value
            elif key in ("blocks", "filters", "dense_units"):
                values[key] = _as_range(key, value)
            else:
                values[key] = tuple(value) if isinstance(value, list) else (value,)
        return cls(**values)

    @classmethod
    def from_toml(cls, path: Path) -> SearchSpace:
        data = read_toml(
            path, SpaceError, f"space file {path}", "pass an existing TOML file with --space"
        )
        try:
            return cls.from_dict(data)
        except SpaceError as exc:
            raise SpaceError(f"space file {path}: {exc}") from None

    def to_toml(self) -> str:
        """One `key = value` line per dimension, arrays inline, as spaces/default.toml is written
        (tomli_w alone puts every array element on its own line)."""
        return "".join(f"{key} = {_toml_value(value)}\n" for key, value in self.to_dict().items())

    # --- sampling -----------------------------------------------------------------------------
    def suggest(self, trial: Suggester) -> CNNConfig:
        """Draw one configuration; parameters named ``n_blocks``, ``kernel_size_0``, ..."""
        n_blocks = _int(trial, "n_blocks", self.blocks)
        blocks = tuple(self._suggest_block(trial, i) for i in range(n_blocks))
        batch_norm = _choice(trial, "batch_norm", self.batch_norm)
        head = _choice(trial, "head", self.head)
        has_dense = _choice(
            trial, "hidden_dense", (False, True) if self.dense_optional else (True,)
        )
        dense_units = _int(trial, "dense_units", self.dense_units, log=True) if has_dense else 0
        dropout = _choice(trial, "dropout", self.dropout) if has_dense else 0.0
        return CNNConfig(
            blocks=blocks,
            head=head,
            dense_units=dense_units,
            dropout=float(dropout),
            batch_norm=batch_norm,
        )

    def _suggest_block(self, trial: Suggester, i: int) -> ConvBlock:
        kernel_size = _choice(trial, f"kernel_size_{i}", self.kernel_size)
        # Separable only where it means something: a 1 x 1 kernel has no spatial part to split
        # off (and cannot be built, see spaces/_footprint.py).
        separable = kernel_size > 1 and _choice(trial, f"separable_{i}", self.separable)
        return ConvBlock(
            kernel_size=kernel_size,
            filters=_int(trial, f"filters_{i}", self.filters, log=True),
            pool=_choice(trial, f"pool_{i}", self.pool),
            padding=_choice(trial, f"padding_{i}", self.padding),
            separable=separable,
        )

    def contains(self, config: CNNConfig) -> bool:
        """Whether `config` is a point of this space."""
        return (
            self.blocks[0] <= len(config.blocks) <= self.blocks[1]
            and all(
                b.kernel_size in self.kernel_size
                and b.pool in self.pool
                and b.padding in self.padding
                and b.separable in self.separable
                and self.filters[0] <= b.filters <= self.filters[1]
                for b in config.blocks
            )
            and config.head in self.head
            and config.batch_norm in self.batch_norm
            and (
                (config.dense_units == 0 and self.dense_optional)
                or (
                    self.dense_units[0] <= config.dense_units <= self.dense_units[1]
                    and config.dropout in self.dropout
                )
            )
        )


def _toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = ") :].strip()


def load_space(path: Path | None = None) -> SearchSpace:
    """The space in `path`, or the default space shipped in spaces/default.toml."""
    return SearchSpace.from_toml(path or DEFAULT_SPACE_PATH)


def _int(trial: Suggester, name: str, bounds: tuple[int, int], log: bool = False) -> int:
    low, high = bounds
    return low if low == high else trial.suggest_int(name, low, high, log=log)


def _choice(trial: Suggester, name: str, choices: tuple[Any, ...]) -> Any:
    return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, list(choices))


def _as_range(key: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list) and len(value) == 2:
        return (value[0], value[1])
    if isinstance(value, list):
        raise SpaceError(
            f"space key {key!r} = {value!r}: expected [low, high] or one number; "
            "fix the value in the space TOML"
        )
    return (value, value)


def _check_range(space: SearchSpace, key: str, minimum: int, maximum: int) -> None:
    low, high = getattr(space, key)
    shown = f"[{low!r}, {high!r}]" if low != high else f"{low!r}"
    if (
        not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
        or not minimum <= low <= high <= maximum
    ):
        raise SpaceError(
            f"space key {key!r} = {shown}: expected whole numbers with "
            f"{minimum} <= low <= high <= {maximum}; fix the value in the space TOML"
        )


def _check_choices(space: SearchSpace, key: str, allowed: tuple[Any, ...]) -> None:
    values = getattr(space, key)
    bad = [v for v in values if v not in allowed or isinstance(v, bool)]
    if not values or bad:
        shown = bad[0] if bad else "[]"
        raise SpaceError(
            f"space key {key!r} = {shown!r}: expected one or more of "
            f"{list(allowed)}; fix the value in the space TOML"
        )


def _check_flags(space: SearchSpace, key: str) -> None:
    values = getattr(space, key)
    if not values or any(not isinstance(v, bool) for v in values):
        raise SpaceError(
            f"space key {key!r} = {list(values)!r}: expected true, false or "
            "[false, true]; fix the value in the space TOML"
        )
