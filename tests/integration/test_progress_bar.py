"""The live progress bar of a real search, read back from a pseudo-terminal as a person would see
it. Without a terminal (a pipe, Ray Job logs, CI) the plain lines stay: see
tests/integration/test_search.py::test_progress_without_a_terminal_is_plain_lines."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

import pytest

from support.cli import ROOT, SLIMTUNE

pytestmark = pytest.mark.integration

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_terminal(
    args: list[str], columns: int = 120, timeout_s: float = 600
) -> tuple[int, bytes]:
    """Run the CLI with stderr on a new pseudo-terminal of `columns` columns; return its exit code
    and every byte the terminal received."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
    proc = subprocess.Popen(
        [*SLIMTUNE, *map(str, args)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
    )
    os.close(slave)
    screen, quiet_since, deadline = b"", None, time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                screen += chunk
            if proc.poll() is not None:  # Ray's helpers may hold the terminal a moment longer
                quiet_since = quiet_since or time.monotonic()
                if chunk:
                    quiet_since = time.monotonic()
                if time.monotonic() - quiet_since > 2:
                    break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(timeout=60), screen


def test_search_on_a_terminal_shows_a_live_bar(tmp_path, mnist_dir, space_file):
    code, screen = run_on_terminal(
        [
            "search",
            "--data-dir",
            mnist_dir,
            "--space",
            space_file,
            "--trials",
            3,
            "--epochs",
            1,
            "--full-epochs",
            1,
            "--train-subset",
            2000,
            "--seeds",
            1,
            "--workers",
            2,
            "--min-accuracy",
            0.5,
            "--confirm-candidates",
            1,
            "--recheck-size",
            0,
            "--out",
            tmp_path / "out",
            "--study-name",
            "bar",
        ]
    )
    text = ANSI.sub(b"", screen).decode(errors="replace")
    assert code == 0, text[-3000:]
    # Redrawn in place: the cursor moves up over the bar and the bar hides the cursor meanwhile.
    assert re.search(rb"\x1b\[\d*A", screen) and b"\x1b[?25l" in screen, screen[-2000:]
    assert "trials 0/3" in text and "trials 3/3" in text, text[-3000:]
    assert "after the first training" in text  # the ETA before any training has finished
    final = text[text.rindex("trials 3/3") :]
    assert re.search(r"running 0, failed 0, pruned \d", final), final
    assert re.search(r"smallest feasible [\d,]+ params \(c\d", final), final  # floor 0.5: easy
    assert re.search(r"elapsed \d+:\d\d:\d\d, ETA 0:00:00", final), final
    # The per-trial lines are still printed, above the bar.
    assert re.search(r"\[\d/3\] trial \d", text)
    assert b"\x1b[?25h" in screen  # the cursor is shown again at the end
