"""Runs trainings on Ray (the default executor): a local Ray started and stopped here, or an
existing cluster."""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import replace
from typing import Any

from slimtune.search._errors import UsageError
from slimtune.search._failpoints import ENV_VAR as FAULTS_ENV_VAR
from slimtune.search.execution._interrupt import through_ray
from slimtune.search.execution._protocol import TrialError
from slimtune.search.execution._ray_private import loopback_only
from slimtune.search.execution._task import train_task
from slimtune.search.training import ONEDNN_ENV_VAR, TrainingRequest, enable_onednn

WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
# Trainings per Ray worker process before Ray starts a fresh one (see RayExecutor.__enter__).
WORKER_MAX_TRAININGS = 100


PROBE_TIMEOUT_S = 3.0


def ray_address_reachable(address: str) -> bool:
    """False if `address` (HOST:PORT or ray://HOST:PORT; 'auto' through RAY_ADDRESS) names a
    port that does not accept a connection within a few seconds.

    Checked before the study is opened, so a wrong address changes nothing stored. 'auto' without
    RAY_ADDRESS is left to `ray.init`, which finds a local cluster in its own ways.
    """
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address or address == "auto":
            return True
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return True  # not HOST:PORT: let ray.init give its own message
    try:
        with socket.create_connection(
            (host.strip("[]") or "127.0.0.1", int(port)), timeout=PROBE_TIMEOUT_S
        ):
            return True
    except OSError:
        return False


def _onednn_env() -> dict[str, str]:
    """The driver's oneDNN choice for every worker, local or on a cluster: the user's
    TF_ENABLE_ONEDNN_OPTS where set, else on (see `enable_onednn`); a worker loads TensorFlow
    after Ray sets these, so each of its trainings runs the same kernels."""
    enable_onednn()
    return {ONEDNN_ENV_VAR: os.environ[ONEDNN_ENV_VAR]}


class RayExecutor:
    """Submits `train_seeds` as Ray tasks with `cpus_per_trial` CPUs each.

    Ray retries a task whose worker process or whole node died up to `max_retries` times, on any
    node with a free CPU: tasks are not pinned to a node or a placement group, so a lost node's
    trainings run again elsewhere (tests/integration/test_cluster.py). An exception raised by the
    training code itself is not retried (it would fail again the same way).
    """

    def __init__(
        self, address: str | None, workers: int, cpus_per_trial: int, max_retries: int
    ) -> None:
        self.address = address
        self.workers = workers
        self.cpus_per_trial = cpus_per_trial
        self.max_retries = max_retries

    def __enter__(self) -> RayExecutor:
        import ray

        env = (
            WORKER_ENV
            | _onednn_env()
            | (
                {FAULTS_ENV_VAR: os.environ[FAULTS_ENV_VAR]}
                if os.environ.get(FAULTS_ENV_VAR)
                else {}
            )
        )
        options: dict[str, Any] = {
            "log_to_driver": False,
            "configure_logging": True,
            "logging_level": "ERROR",
            "runtime_env": {"env_vars": env},
        }
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                # No dashboard; Ray's token authentication stays on; every port on 127.0.0.1.
                with loopback_only():
                    ray.init(
                        num_cpus=self.workers * self.cpus_per_trial,
                        include_dashboard=False,
                        _node_ip_address="127.0.0.1",
                        **options,
                    )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UsageError(
                f"--ray-address {self.address}: cannot connect ({exc}); start the "
                "cluster first or leave the flag out for a local Ray"
            ) from None
        # ray.init installs its own signal handlers in the driver (SIGTERM aborts); keep ours,
        # which unwind so trials and runs are closed and Ray is shut down (search/_interrupt.py).
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        # max_calls: a worker process is replaced after that many trainings. TensorFlow keeps
        # each traced epoch graph for the life of the process (~8 MB per trial measured), so a
        # worker of a long search would otherwise grow until Ray's OOM killer stopped it; a new
        # worker costs ~4 s once per WORKER_MAX_TRAININGS trainings.
        self._train = ray.remote(max_calls=WORKER_MAX_TRAININGS)(train_task).options(
            num_cpus=self.cpus_per_trial, max_retries=self.max_retries, retry_exceptions=False
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        import ray

        ray.shutdown()

    def put(self, value: Any) -> Any:
        import ray

        with through_ray():
            return ray.put(value)

    def submit(self, request: TrainingRequest, train: Any, val: Any, held_out: Any = None) -> Any:
        request = replace(request, threads=self.cpus_per_trial)
        return self._train.remote(request, train, val, held_out)  # type: ignore[call-arg]

    def wait(self, refs: list[Any], timeout_s: float) -> list[Any]:
        import ray

        with through_ray():
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout_s)
        return ready

    def cancel(self, ref: Any) -> None:
        import ray

        ready, _ = ray.wait([ref], num_returns=1, timeout=0)
        if not ready:  # cancelling a finished task can race its completion (see _loop._abandon)
            ray.cancel(ref, force=True)

    def result(self, ref: Any) -> Any:
        """The task's return value; raises TrialError with the cause if it failed."""
        import ray

        try:
            with through_ray():
                return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if exc.cause is not None else exc
            raise TrialError(f"{type(cause).__name__}: {cause}") from None
        except ray.exceptions.RayError as exc:
            raise TrialError(f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
