"""Running the real `slimtune` CLI as a user would, and the tiny space the integration tests use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.processes import TINY_SPACE  # noqa: F401 (the tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
SLIMTUNE = [sys.executable, "-m", "slimtune"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run the real `slimtune` CLI in a subprocess, as a user would."""
    return subprocess.run(
        [*SLIMTUNE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def run_cli_in_process(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the real `slimtune` entry point, `main()`, run in this
    process: the same error mapping as `run_cli` in milliseconds instead of seconds, for tests
    that try hundreds of inputs."""
    import contextlib
    import io
    import signal

    from slimtune.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    argv = sys.argv
    sys.argv = ["slimtune", *map(str, args)]
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
        for sig, handler in handlers.items():  # main() routes them through its own handler
            signal.signal(sig, handler)
    return (code if isinstance(code, int) else 1), stdout.getvalue(), stderr.getvalue()
