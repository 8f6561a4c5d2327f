"""Reading a TOML file with errors people can act on (spaces, devices, study files, templates)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path | str, error: type[Exception], where: str, hint: str) -> dict[str, Any]:
    """The table in `path`. A missing or unreadable file, or bad TOML, raises `error` with one line
    that starts with `where` (e.g. "--config study.toml") and ends with the fix (`hint` for a file
    that cannot be read)."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise error(f"{where}: cannot read it ({exc.strerror}); {hint}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: not valid TOML ({exc}); fix its syntax") from None
