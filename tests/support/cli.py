"""Running the real `slimtune` CLI as a user would, and the tiny space the integration tests use."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLIMTUNE = [sys.executable, "-m", "slimtune"]
# A small space for integration tests: trials train in about a second on 1,000 images.
TINY_SPACE = """
blocks = [1, 2]
kernel_size = [3, 5]
filters = [2, 8]
pool = [2, 4]
head = ["flatten", "gap"]
dense_units = [8, 32]
dense_optional = true
dropout = [0.0]
"""


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 900
            ) -> subprocess.CompletedProcess:
    """Run the real `slimtune` CLI in a subprocess, as a user would."""
    return subprocess.run([*SLIMTUNE, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
