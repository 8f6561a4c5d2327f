"""Immutable CNN configurations: one point of the search space."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

HEADS = ("flatten", "gap")
PADDINGS = ("same", "valid")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and the fix, e.g.
    ``blocks[0].filters = 3.5: use a whole number of 1 or more``."""


def _whole(value: Any) -> bool:
    # numbers.Integral admits numpy integers (Optuna and numpy code hand those in); bool is an int
    # in Python but `filters = true` in a file is a mistake, not 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class ConvBlock:
    """Conv2D(filters, kernel_size x kernel_size, ReLU) followed by max pooling of `pool` (1 =
    none).

    `padding` applies to both: 'same' keeps the map size through the conv and rounds the pooled
    size up; 'valid' shrinks the map by kernel_size - 1 and rounds the pooled size down.
    `separable`: the convolution is depthwise-separable (a k x k depthwise convolution of each
    input channel, then a 1 x 1 convolution to `filters`), as in MobileNet."""

    kernel_size: int
    filters: int
    pool: int = 1
    padding: str = "same"
    separable: bool = False

    def __post_init__(self) -> None:
        for key in ("kernel_size", "filters", "pool"):
            value = getattr(self, key)
            if not _whole(value) or value < 1:
                raise ConfigError(f"{key} = {value!r}: use a whole number of 1 or more")
            object.__setattr__(self, key, int(value))
        if self.padding not in PADDINGS:
            raise ConfigError(f"padding = {self.padding!r}: use 'same' or 'valid'")
        if not isinstance(self.separable, bool):
            raise ConfigError(f"separable = {self.separable!r}: use true or false")

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kernel_size": self.kernel_size,
            "filters": self.filters,
            "pool": self.pool,
            "padding": self.padding,
        }
        # Written only when set, so the records of plain blocks read as they always have.
        return data | ({"separable": True} if self.separable else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvBlock:
        _reject_unknown(data, {"kernel_size", "filters", "pool", "padding", "separable"}, "block")
        for key in ("kernel_size", "filters"):
            if key not in data:
                raise ConfigError(f"{key} is missing: give the block a {key}")
        return cls(
            kernel_size=data["kernel_size"],
            filters=data["filters"],
            pool=data.get("pool", 1),
            padding=data.get("padding", "same"),
            separable=data.get("separable", False),
        )

    def summary(self) -> str:
        kind = "s" if self.separable else "c"
        valid = "v" if self.padding == "valid" else ""
        pooled = f"-p{self.pool}" if self.pool > 1 else ""
        return f"{kind}{self.kernel_size}x{self.filters}{valid}{pooled}"


@dataclass(frozen=True)
class CNNConfig:
    """A whole network: conv blocks, a head (flatten or global average pool), an optional hidden
    dense layer of `dense_units` (0 = none) with dropout, then the softmax classifier.

    `batch_norm`: every convolution is followed by BatchNormalization (before its ReLU) while
    training. It folds into the convolution's weights and bias for deployment, so the deployed
    network (and its footprint) is the same as without it. The "gap" head with no hidden layer
    is the all-convolutional head: averaging then a dense layer to the classes equals a 1 x 1
    convolution to the classes then averaging (both linear), with the same parameters."""

    blocks: tuple[ConvBlock, ...]
    head: str = "flatten"
    dense_units: int = 0
    dropout: float = 0.0
    batch_norm: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not self.blocks or not all(isinstance(b, ConvBlock) for b in self.blocks):
            raise ConfigError(f"blocks = {list(self.blocks)!r}: use one or more conv blocks")
        if self.head not in HEADS:
            raise ConfigError(f"head = {self.head!r}: use one of {list(HEADS)}")
        if not _whole(self.dense_units) or self.dense_units < 0:
            raise ConfigError(
                f"dense_units = {self.dense_units!r}: use a whole number of 0 "
                "(no hidden layer) or more"
            )
        object.__setattr__(self, "dense_units", int(self.dense_units))
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, numbers.Real)
            or not math.isfinite(self.dropout)
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ConfigError(f"dropout = {self.dropout!r}: use a fraction in [0, 1)")
        object.__setattr__(self, "dropout", float(self.dropout))
        if not isinstance(self.batch_norm, bool):
            raise ConfigError(f"batch_norm = {self.batch_norm!r}: use true or false")

    def to_dict(self) -> dict[str, Any]:
        data = {
            "blocks": [b.to_dict() for b in self.blocks],
            "head": self.head,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
        }
        return data | ({"batch_norm": True} if self.batch_norm else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNConfig:
        _reject_unknown(data, {"blocks", "head", "dense_units", "dropout", "batch_norm"}, "config")
        blocks = data.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            raise ConfigError(f"blocks = {blocks!r}: use a list of one or more block tables")
        parsed = []
        for i, block in enumerate(blocks):
            try:
                parsed.append(ConvBlock.from_dict(block))
            except ConfigError as exc:
                raise ConfigError(f"blocks[{i}]: {exc}") from None
        return cls(
            blocks=tuple(parsed),
            head=data.get("head", "flatten"),
            dense_units=data.get("dense_units", 0),
            dropout=data.get("dropout", 0.0),
            batch_norm=data.get("batch_norm", False),
        )

    def summary(self) -> str:
        """Short human-readable name, e.g. ``c5x2-p4|flatten|d128``; ``|bn`` ends it when the
        convolutions train with BatchNorm."""
        parts = [b.summary() for b in self.blocks] + [self.head]
        if self.dense_units:
            parts.append(f"d{self.dense_units}" + (f"@{self.dropout:g}" if self.dropout else ""))
        if self.batch_norm:
            parts.append("bn")
        return "|".join(parts)


def _reject_unknown(data: Any, known: set[str], where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{data!r} is not a {where} table: use one with keys {sorted(known)}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {where} key {unknown[0]!r}; expected one of {sorted(known)}")
