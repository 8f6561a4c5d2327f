"""The Ray-address probe that runs before a study is opened."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from slimtune.search.execution._interrupt import Interrupted, install
from slimtune.search.execution._ray import RayExecutor, ray_address_reachable


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


@pytest.mark.integration
def test_a_signal_during_a_ray_wait_or_get_arrives_as_interrupted():
    """Ray turns the handler's Interrupted into a plain KeyboardInterrupt inside ray.wait/ray.get;
    the executor must hand the search an Interrupted that names the signal (seen in a 60-minute
    run: SIGTERM while the driver waited left trials RUNNING and no partial result.json)."""
    import ray

    def sleep(seconds: float) -> None:  # local, so Ray ships it by value (tests/ is no package)
        time.sleep(seconds)

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    install()
    try:
        with RayExecutor(None, workers=1, cpus_per_trial=1, max_retries=0) as executor:
            ref = ray.remote(sleep).remote(60)
            for call, sig in (
                (lambda: executor.wait([ref], timeout_s=30), signal.SIGTERM),
                (lambda: executor.result(ref), signal.SIGINT),
            ):
                threading.Timer(1.0, os.kill, (os.getpid(), sig)).start()
                started = time.monotonic()
                try:  # not pytest.raises: a plain KeyboardInterrupt would abort the session
                    call()
                except BaseException as exc:  # noqa: BLE001 - the type is what is tested
                    caught: BaseException | None = exc
                else:
                    caught = None
                assert isinstance(caught, Interrupted) and caught.signum == sig, repr(caught)
                assert time.monotonic() - started < 15
            executor.cancel(ref)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.integration
def test_a_worker_process_is_replaced_after_its_maximum_of_trainings(
    mnist_dir, tmp_path, monkeypatch
):
    """TensorFlow keeps each traced graph for the life of a process, so Ray must start a fresh
    worker after WORKER_MAX_TRAININGS trainings (here 1: two trainings, two processes)."""
    import json

    from slimtune.search._data import resolve
    from slimtune.search._failpoints import ENV_VAR
    from slimtune.search.execution import _ray
    from slimtune.search.training import TrainingRequest
    from slimtune.spaces import CNNConfig, ConvBlock, Recipe

    record = tmp_path / "trained.log"
    (tmp_path / "faults.json").write_text(json.dumps({"record_to": str(record)}))
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "faults.json"))
    monkeypatch.setattr(_ray, "WORKER_MAX_TRAININGS", 1)
    train, val = resolve("mnist", mnist_dir).train_val(val_size=200, train_subset=200)
    config = CNNConfig((ConvBlock(3, 2, 4),), "flatten")
    with RayExecutor(None, workers=1, cpus_per_trial=1, max_retries=0) as executor:
        for _ in range(2):
            request = TrainingRequest(config, Recipe(epochs=1), (0,), keep_model=False)
            executor.result(executor.submit(request, train, val))
    pids = [line.split()[0] for line in record.read_text().splitlines()]
    assert len(pids) == 2 and pids[0] != pids[1], pids
