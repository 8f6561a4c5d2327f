"""The Ray-address probe that runs before a study is opened."""
from __future__ import annotations

import socket

from search._executor import ray_address_reachable


def test_ray_address_probe_tells_a_listening_port_from_a_closed_one(monkeypatch):
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        up, down = listening.getsockname()[1], closed.getsockname()[1]
        assert ray_address_reachable(f"127.0.0.1:{up}")
        assert ray_address_reachable(f"ray://127.0.0.1:{up}")
        assert not ray_address_reachable(f"127.0.0.1:{down}")
        assert not ray_address_reachable(f"ray://127.0.0.1:{down}")
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{down}")
        assert not ray_address_reachable("auto")
        monkeypatch.delenv("RAY_ADDRESS")
        assert ray_address_reachable("auto")  # left to ray.init, which has its own ways
