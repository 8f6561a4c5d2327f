"""Lazy public names of a package: each loads its module on first use, so importing a package
(and the CLI's --help) stays free of TensorFlow, Ray, MLflow and Optuna until they are needed.

It lives in trackers, which imports nothing of ours, because both search and deploy may import
trackers and never each other (nor the CLI's own package above them).

A package spells its face out once, as plain imports under `if TYPE_CHECKING:` (what type
checkers, linters and editors read); `lazy_face` reads that block from the package's own source
and serves the same names at run time, each from its module on first access."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lazy_face(package: str, init_file: str) -> tuple[Callable[[str], Any], list[str]]:
    """(`__getattr__`, `__all__`) of `package` from the `if TYPE_CHECKING:` imports of its
    `__init__.py` (`init_file`): `from MODULE import NAME [as PUBLIC]` serves PUBLIC."""
    exports = _type_checking_imports(Path(init_file))

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = exports[name]
        return getattr(importlib.import_module(module), attribute)

    return __getattr__, sorted(exports)


def _type_checking_imports(path: Path) -> dict[str, tuple[str, str]]:
    exports: dict[str, tuple[str, str]] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if not (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
                for alias in statement.names:
                    exports[alias.asname or alias.name] = (statement.module, alias.name)
    return exports
