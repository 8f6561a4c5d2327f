"""Process trees read from /proc, for the crash-safety tests and benchmarks/soak.py: the local Ray
a driver starts runs below it, so finding (and killing) a Ray task's worker means walking down
from the driver's pid."""

from __future__ import annotations

import os
from pathlib import Path

# The integration tests' and the soak's space: trials train in about a second on 1,000 images.
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


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    """`pid`'s command line, "" once it has gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
