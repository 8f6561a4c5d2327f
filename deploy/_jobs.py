"""`slimtune submit/status/logs`: a whole search as a Ray Job (Ray Jobs API).

The job's entrypoint is `slimtune search ...` run on the cluster's head node, which must have
slimtune installed (the project image, deploy/Dockerfile): driver and workers then run the same
code and the same TensorFlow/Keras/Ray versions, and nothing is uploaded per job. A
development cluster without the image can pass `--working-dir .` to ship the checkout as a Ray
runtime environment instead (its dependencies must still be installed on every node).
Credentials (PGPASSWORD, MLFLOW_TRACKING_*) come from the cluster's environment, never from the
submission: a job's entrypoint and runtime environment are visible to anyone who can list jobs.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from slimtune.deploy._errors import DeployError
from slimtune.trackers import redact

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
DASHBOARD_HINT = (
    "pass --address http://HEAD:8265 (the Ray dashboard / Jobs API of the cluster) "
    "or set RAY_API_SERVER_ADDRESS"
)


def jobs_address(address: str | None) -> str:
    return (
        address
        or os.environ.get("RAY_API_SERVER_ADDRESS")
        or os.environ.get("RAY_ADDRESS")
        or DEFAULT_ADDRESS
    )


def _client(address: str | None) -> Any:
    from ray.job_submission import JobSubmissionClient

    url = jobs_address(address)
    try:
        return JobSubmissionClient(url)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise DeployError(
            f"--address {url}: cannot reach the Ray Jobs API "
            f"({str(exc).splitlines()[0]}); {DASHBOARD_HINT}"
        ) from None


def search_entrypoint(search_args: list[str]) -> str:
    """The job's command line: `slimtune search ARGS`, joining the cluster it runs in."""
    if "search" in search_args[:1]:
        search_args = search_args[1:]
    if any(a.startswith("--ray-address") for a in search_args):
        raise DeployError(
            "--ray-address: a submitted search always runs on the cluster it was "
            "submitted to; leave the flag out"
        )
    _refuse_passwords(search_args)
    return shlex.join(["slimtune", "search", *search_args, "--ray-address", "auto"])


def _refuse_passwords(search_args: list[str]) -> None:
    """DeployError if any argument holds a URL with a password (--storage, --tracking-uri, or
    any other): the entrypoint is stored in the cluster's job table for anyone who can list
    jobs, so it is refused before anything is sent."""
    previous = ""
    for arg in search_args:
        flag, has_value, value = arg.partition("=")
        if not (has_value and flag.startswith("--")):
            flag, value = previous, arg
        if redact(value) != value:
            named = f"{flag} " if flag.startswith("--") else ""
            raise DeployError(
                f"{named}{redact(value)}: a submitted job's command line is shown to anyone "
                "who can list the cluster's jobs; leave the password out and give it to the "
                "cluster's environment (PGPASSWORD or ~/.pgpass for PostgreSQL, "
                "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD for MLflow)"
            )
        previous = arg


def submit(
    address: str | None,
    search_args: list[str],
    job_id: str | None = None,
    working_dir: str | None = None,
) -> str:
    """Submit `slimtune search ARGS` as a Ray Job; returns the job id."""
    entrypoint = search_entrypoint(search_args)
    runtime_env = {"working_dir": working_dir} if working_dir else None
    client = _client(address)
    try:
        return client.submit_job(
            entrypoint=entrypoint,
            submission_id=job_id,
            runtime_env=runtime_env,
            metadata={"tool": "slimtune"},
        )
    except RuntimeError as exc:
        raise DeployError(f"the cluster refused the job: {str(exc).splitlines()[0]}") from None


def status(address: str | None, job_id: str) -> tuple[str, str]:
    """(status, message) of a job, e.g. ('SUCCEEDED', 'Job finished successfully.')."""
    client = _client(address)
    try:
        info = client.get_job_info(job_id)
    except RuntimeError:
        raise DeployError(
            f"job {job_id!r} is not known to {jobs_address(address)}; list the jobs "
            "with `ray job list`"
        ) from None
    return str(info.status.value), info.message or ""


def logs(address: str | None, job_id: str) -> str:
    client = _client(address)
    try:
        return client.get_job_logs(job_id)
    except RuntimeError:
        raise DeployError(
            f"job {job_id!r} is not known to {jobs_address(address)}; list the jobs "
            "with `ray job list`"
        ) from None


def follow_logs(address: str | None, job_id: str) -> None:
    """Print the job's logs as they come, until it ends."""
    import asyncio

    status(address, job_id)  # refuse an unknown job id with one line

    async def tail() -> None:
        async for chunk in _client(address).tail_job_logs(job_id):
            print(chunk, end="", flush=True)

    asyncio.run(tail())
