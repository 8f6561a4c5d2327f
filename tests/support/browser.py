"""Real headless Chromium (Debian's `chromium`, installed by .ci/setup) opening HTML files from
disk as a user's browser would: the DOM after its scripts ran, and a screenshot."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Root in CI needs --no-sandbox; the virtual time budget lets plotly draw before the dump.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=10000"]


def chromium() -> str:
    """The Chromium binary; a missing one fails the test (CI installs it: never skipped)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium not found: install Debian's chromium (bash .ci/setup does)")
    return path


def dump_dom(page: Path) -> str:
    """The page's DOM after its scripts ran."""
    done = subprocess.run([chromium(), *FLAGS, "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 2000) -> Path:
    """A PNG of the page's top `height` pixels at `width`."""
    done = subprocess.run([chromium(), *FLAGS, f"--screenshot={png}",
                           f"--window-size={width},{height}", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    return png
