"""Immutable CNN configurations: one point of the search space."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEADS = ("flatten", "gap")


@dataclass(frozen=True)
class ConvBlock:
    """Conv2D(filters, kernel_size x kernel_size, ReLU) followed by max pooling of `pool` (1 = none).

    `padding` applies to both: 'same' keeps the map size through the conv and rounds the pooled
    size up; 'valid' shrinks the map by kernel_size - 1 and rounds the pooled size down.
    `separable`: the convolution is depthwise-separable (a k x k depthwise convolution of each
    input channel, then a 1 x 1 convolution to `filters`), as in MobileNet."""

    kernel_size: int
    filters: int
    pool: int = 1
    padding: str = "same"
    separable: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = {"kernel_size": self.kernel_size, "filters": self.filters, "pool": self.pool,
                "padding": self.padding}
        # Written only when set, so the records of plain blocks read as they always have.
        return data | ({"separable": True} if self.separable else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvBlock:
        _reject_unknown(data, {"kernel_size", "filters", "pool", "padding", "separable"}, "block")
        return cls(kernel_size=int(data["kernel_size"]), filters=int(data["filters"]),
                   pool=int(data.get("pool", 1)), padding=str(data.get("padding", "same")),
                   separable=bool(data.get("separable", False)))

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

    def to_dict(self) -> dict[str, Any]:
        data = {"blocks": [b.to_dict() for b in self.blocks], "head": self.head,
                "dense_units": self.dense_units, "dropout": self.dropout}
        return data | ({"batch_norm": True} if self.batch_norm else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNConfig:
        _reject_unknown(data, {"blocks", "head", "dense_units", "dropout", "batch_norm"}, "config")
        return cls(blocks=tuple(ConvBlock.from_dict(b) for b in data["blocks"]),
                   head=str(data.get("head", "flatten")),
                   dense_units=int(data.get("dense_units", 0)),
                   dropout=float(data.get("dropout", 0.0)),
                   batch_norm=bool(data.get("batch_norm", False)))

    def summary(self) -> str:
        """Short human-readable name, e.g. ``c5x2-p4|flatten|d128``; ``|bn`` ends it when the
        convolutions train with BatchNorm."""
        parts = [b.summary() for b in self.blocks] + [self.head]
        if self.dense_units:
            parts.append(f"d{self.dense_units}" + (f"@{self.dropout:g}" if self.dropout else ""))
        if self.batch_norm:
            parts.append("bn")
        return "|".join(parts)


def _reject_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {where} key {unknown[0]!r}; expected one of {sorted(known)}")
