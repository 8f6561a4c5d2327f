"""Runs training on Ray: a local Ray started and stopped here by default, or an existing cluster."""
from __future__ import annotations

import signal
from typing import Any

from search._errors import UsageError
from search._trainer import train_seeds

WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


class TrialError(RuntimeError):
    """A trial task failed for good (after Ray's retries); the message says why."""


class RayExecutor:
    """Submits `train_seeds` as Ray tasks with `cpus_per_trial` CPUs each.

    Ray retries a task whose worker process died up to `max_retries` times; an exception raised by
    the training code itself is not retried (it would fail again the same way).
    """

    def __init__(self, address: str | None, workers: int, cpus_per_trial: int,
                 max_retries: int) -> None:
        self.address = address
        self.workers = workers
        self.cpus_per_trial = cpus_per_trial
        self.max_retries = max_retries

    def __enter__(self) -> RayExecutor:
        import ray

        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": True,
                                   "logging_level": "ERROR",
                                   "runtime_env": {"env_vars": WORKER_ENV}}
        sigterm_handler = signal.getsignal(signal.SIGTERM)
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.workers * self.cpus_per_trial, include_dashboard=False,
                         **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UsageError(f"--ray-address {self.address}: cannot connect ({exc}); start the "
                             "cluster first or leave the flag out for a local Ray") from None
        # ray.init installs its own SIGTERM handler in the driver (it aborts); keep ours, which
        # unwinds so runs are closed and Ray is shut down.
        signal.signal(signal.SIGTERM, sigterm_handler)
        self._train = ray.remote(train_seeds).options(
            num_cpus=self.cpus_per_trial, max_retries=self.max_retries, retry_exceptions=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        import ray

        ray.shutdown()

    def put(self, value: Any) -> Any:
        import ray

        return ray.put(value)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        return self._train.remote(*args, threads=self.cpus_per_trial, **kwargs)

    def wait(self, refs: list[Any], timeout_s: float) -> list[Any]:
        import ray

        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout_s)
        return ready

    def cancel(self, ref: Any) -> None:
        import ray

        ray.cancel(ref, force=True)

    def result(self, ref: Any) -> Any:
        """The task's return value; raises TrialError with the cause if it failed."""
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if exc.cause is not None else exc
            raise TrialError(f"{type(cause).__name__}: {cause}") from None
        except ray.exceptions.RayError as exc:
            raise TrialError(f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
