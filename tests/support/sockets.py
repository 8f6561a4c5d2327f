"""What a process tree listens on: the socket tests of the search's local Ray, the dashboard and
`mlflow models serve` (README "Security defaults") read it the same way, from the OS (psutil)."""

from __future__ import annotations

import ipaddress

import psutil


def loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or 127.x written as IPv6 (::ffff:127.0.0.1: a dual-stack socket bound
    to the IPv4 loopback, as Ray's gRPC servers are)."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def listening(pid: int) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket in `pid`'s process tree."""
    found = set()
    try:
        root = psutil.Process(pid)
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


def beyond_loopback(seen: set[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The sockets of `seen` that listen on an address other than loopback (the tests want [])."""
    return sorted(s for s in seen if not loopback(s[1]))
