"""Immutable CNN configurations: one point of the search space."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEADS = ("flatten", "gap")


@dataclass(frozen=True)
class ConvBlock:
    """Conv2D(filters, kernel_size x kernel_size, ReLU) followed by max pooling of `pool` (1 = none).

    `padding` applies to both: 'same' keeps the map size through the conv and rounds the pooled
    size up; 'valid' shrinks the map by kernel_size - 1 and rounds the pooled size down."""

    kernel_size: int
    filters: int
    pool: int = 1
    padding: str = "same"

    def to_dict(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "filters": self.filters, "pool": self.pool,
                "padding": self.padding}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvBlock:
        _reject_unknown(data, {"kernel_size", "filters", "pool", "padding"}, "block")
        return cls(kernel_size=int(data["kernel_size"]), filters=int(data["filters"]),
                   pool=int(data.get("pool", 1)), padding=str(data.get("padding", "same")))

    def summary(self) -> str:
        valid = "v" if self.padding == "valid" else ""
        pooled = f"-p{self.pool}" if self.pool > 1 else ""
        return f"c{self.kernel_size}x{self.filters}{valid}{pooled}"


@dataclass(frozen=True)
class CNNConfig:
    """A whole network: conv blocks, a head (flatten or global average pool), an optional hidden
    dense layer of `dense_units` (0 = none) with dropout, then the softmax classifier."""

    blocks: tuple[ConvBlock, ...]
    head: str = "flatten"
    dense_units: int = 0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": [b.to_dict() for b in self.blocks], "head": self.head,
                "dense_units": self.dense_units, "dropout": self.dropout}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNConfig:
        _reject_unknown(data, {"blocks", "head", "dense_units", "dropout"}, "config")
        return cls(blocks=tuple(ConvBlock.from_dict(b) for b in data["blocks"]),
                   head=str(data.get("head", "flatten")),
                   dense_units=int(data.get("dense_units", 0)),
                   dropout=float(data.get("dropout", 0.0)))

    def summary(self) -> str:
        """Short human-readable name, e.g. ``c5x2-p4|flatten|d128``."""
        parts = [b.summary() for b in self.blocks] + [self.head]
        if self.dense_units:
            parts.append(f"d{self.dense_units}" + (f"@{self.dropout:g}" if self.dropout else ""))
        return "|".join(parts)


def _reject_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {where} key {unknown[0]!r}; expected one of {sorted(known)}")
