"""Real headless Chromium (Debian's `chromium`, installed by .ci/setup) opening HTML files from
disk, or a served page such as the MLflow UI, as a user's browser would: the DOM after its
scripts ran, and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Root in CI needs --no-sandbox; the virtual time budget lets plotly draw (and a single-page app
# fetch and render) before the dump: virtual time runs ahead while the page is idle.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
]


def chromium() -> str:
    """The Chromium binary; a missing one fails the test (CI installs it: never skipped)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium not found: install Debian's chromium (bash .ci/setup does)")
    return path


def _address(page: Path | str) -> str:
    """A file on disk as a file:// URI; a URL (http://...) as it is."""
    return page.resolve().as_uri() if isinstance(page, Path) else page


def dump_dom(page: Path | str) -> str:
    """The page's DOM after its scripts ran."""
    done = subprocess.run(
        [chromium(), *FLAGS, "--dump-dom", _address(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path | str, png: Path, width: int = 1100, height: int = 2000) -> Path:
    """A PNG of the page's top `height` pixels at `width`."""
    done = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            _address(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    return png


def dump_dom_and_screenshot(
    page: Path | str, png: Path, width: int = 1100, height: int = 2000
) -> str:
    """`dump_dom` and `screenshot` from one page load: half the time of the two, and both show
    the same state of a page that fetches its data (the MLflow UI)."""
    done = subprocess.run(
        [
            chromium(),
            *FLAGS,
            "--dump-dom",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            _address(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    return done.stdout
