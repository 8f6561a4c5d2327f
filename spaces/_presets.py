"""Named configurations (spaces/presets.toml)."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from slimtune.spaces._config import CNNConfig

PRESETS_PATH = Path(__file__).with_name("presets.toml")


@cache
def presets() -> dict[str, CNNConfig]:
    return {
        name: CNNConfig.from_dict(data)
        for name, data in tomllib.loads(PRESETS_PATH.read_text()).items()
    }


def preset(name: str) -> CNNConfig:
    """The preset called `name`; KeyError lists the known names."""
    known = presets()
    if name not in known:
        raise KeyError(f"unknown preset {name!r}; use one of {sorted(known)}")
    return known[name]
