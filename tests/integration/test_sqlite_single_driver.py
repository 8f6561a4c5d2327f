"""A second `slimtune search` on a study in SQLite, while the first runs, is refused in one line
and leaves the first undisturbed (several drivers need PostgreSQL: test_postgres.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from support.cli import ROOT, SLIMTUNE, run_cli

pytestmark = pytest.mark.integration


def test_a_second_driver_on_a_sqlite_study_is_refused(tmp_path, mnist_dir):
    out = tmp_path / "out"
    args = [
        "search",
        "--data-dir",
        mnist_dir,
        "--trials",
        2,
        "--epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--workers",
        1,
        "--min-accuracy",
        0.3,
        "--learning-rate",
        0.01,
        "--out",
        out,
        "--study-name",
        "solo",
    ]
    log = tmp_path / "first.err"
    with open(log, "w") as stderr:
        first = subprocess.Popen(
            [*SLIMTUNE, *map(str, args)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 300
        while "search: 2 trials" not in log.read_text():  # printed while the lock is held
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        second = run_cli(*args)
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"slimtune: error: --storage sqlite:///{out / 'optuna.db'} is in use by another "
            "slimtune search; wait for it to finish, or use PostgreSQL for several drivers"
        )
        assert second.stdout == ""
        assert first.wait(timeout=600) == 0, log.read_text()
    finally:
        first.kill()
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == 2
