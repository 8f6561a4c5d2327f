"""Loopback only: while a real `slimtune search` runs on its local Ray, every process it started
(the driver, Ray's GCS, raylet, agents and workers) listens on loopback only."""
from __future__ import annotations

import ipaddress
import subprocess
import time

import psutil
import pytest

from support.cli import ROOT, SLIMTUNE

pytestmark = pytest.mark.integration


def loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or 127.x written as IPv6 (::ffff:127.0.0.1: a dual-stack socket bound
    to the IPv4 loopback, as Ray's gRPC servers are)."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def listening(root: psutil.Process) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket in `root`'s process tree."""
    found = set()
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for process in tree:
        try:
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((process.name(), conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_the_local_ray_of_a_search_listens_on_loopback_only(tmp_path, mnist_dir, space_file):
    out = tmp_path / "out"
    search = subprocess.Popen(
        [*SLIMTUNE, "search", "--data-dir", str(mnist_dir), "--space", str(space_file),
         # one short trial; a floor no trial reaches, so nothing is confirmed
         "--trials", "1", "--epochs", "1", "--full-epochs", "1", "--train-subset", "1000",
         "--seeds", "1", "--workers", "1", "--min-accuracy", "0.99", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: set[tuple[str, str, int]] = set()
    try:
        root = psutil.Process(search.pid)
        while search.poll() is None:
            seen |= listening(root)
            time.sleep(0.2)
        output = search.stdout.read()
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 0, output
    names = {name for name, _, _ in seen}
    # The test sees Ray's servers, so it could see one listening beyond loopback.
    assert {"gcs_server", "raylet"} <= names, seen
    assert not sorted(s for s in seen if not loopback(s[1])), sorted(seen)
