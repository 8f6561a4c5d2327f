"""Loopback only: while a real `slimtune search` runs on its local Ray, every process it started
(the driver, Ray's GCS, raylet, agents and workers) listens on loopback only."""

from __future__ import annotations

import subprocess
import time

import pytest

from support.cli import ROOT, SLIMTUNE
from support.sockets import beyond_loopback, listening

pytestmark = pytest.mark.integration


def test_the_local_ray_of_a_search_listens_on_loopback_only(tmp_path, mnist_dir, space_file):
    out = tmp_path / "out"
    search = subprocess.Popen(
        [
            *SLIMTUNE,
            "search",
            "--data-dir",
            str(mnist_dir),
            "--space",
            str(space_file),
            # one short trial; a floor no trial reaches, so nothing is confirmed
            "--trials",
            "1",
            "--epochs",
            "1",
            "--full-epochs",
            "1",
            "--train-subset",
            "1000",
            "--seeds",
            "1",
            "--workers",
            "1",
            "--min-accuracy",
            "0.99",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: set[tuple[str, str, int]] = set()
    try:
        while search.poll() is None:
            seen |= listening(search.pid)
            time.sleep(0.2)
        output = search.stdout.read()
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 0, output
    names = {name for name, _, _ in seen}
    # The test sees Ray's servers, so it could see one listening beyond loopback.
    assert {"gcs_server", "raylet"} <= names, seen
    assert not beyond_loopback(seen), sorted(seen)
