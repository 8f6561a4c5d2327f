"""Wall time of one search on a 2-node Ray cluster on 127.0.0.1 (1 CPU per node) vs a local Ray
with the same 2 CPUs. Run from the repository root:

    SLIMTUNE_DATA_DIR=../shared/datasets/mnist .venv/bin/python benchmarks/loopback_cluster.py

Each search is a 6-trial quickstart-sized search (FLAGS below) with --workers 2, a fresh
study and fresh SQLite stores. The cluster is started before the clock starts (a cluster
outlives searches); the local search's time includes starting and stopping its own Ray, as a
user would see it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from support.services import ray_cluster

ROOT = _common.REPO

FLAGS = [
    "--min-accuracy",
    "0.7",
    "--trials",
    "6",
    "--epochs",
    "2",
    "--train-subset",
    "5000",
    "--seeds",
    "2",
    "--workers",
    "2",
]


def timed_search(out: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "slimtune", "search", *FLAGS, "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.monotonic() - started
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    print(done.stdout.strip().splitlines()[-4], file=sys.stderr)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        local = timed_search(Path(folder) / "local")
        with ray_cluster([1, 1]) as cluster:
            remote = timed_search(
                Path(folder) / "cluster", "--ray-address", cluster.address, env=cluster.env
            )
    print(f"local Ray, 2 CPUs:           {local:6.1f} s")
    print(f"2-node loopback cluster 1+1: {remote:6.1f} s")


if __name__ == "__main__":
    main()
