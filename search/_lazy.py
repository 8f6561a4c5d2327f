"""Lazy public names of a package: each loads its module on first use, so importing a package
(and the CLI's --help) stays free of TensorFlow, Ray, MLflow and Optuna until they are needed."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_getattr(package: str, exports: dict[str, str],
                 aliases: dict[str, str] | None = None) -> Callable[[str], Any]:
    """A module `__getattr__` that serves `exports` (public name -> module), reading the name
    `aliases.get(name, name)` from that module."""
    aliases = aliases or {}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), aliases.get(name, name))

    return __getattr__
