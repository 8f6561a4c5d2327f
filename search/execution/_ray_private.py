"""The one private Ray API slimtune uses, kept here so an upgrade that changes it fails in one
place (tests/search/execution/test_ray_private.py checks it against the installed Ray and
tests/integration/test_loopback.py checks what it is for: every port on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

CLUSTER_ENV_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextmanager
def loopback_only() -> Iterator[None]:
    """While a local Ray starts: its node address is 127.0.0.1, so GCS, raylet, object manager,
    agents and workers bind 127.0.0.1 only (Ray's gRPC servers listen on loopback only when the
    node address is 127.0.0.1). Ray 2.60 replaces a loopback address by the host's own
    (`services.resolve_ip_for_localhost`) unless clustering is off, the mode Ray uses on macOS
    and Windows (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0); it is turned off for the processes
    started here (they inherit the variable) and put back afterwards."""
    from ray._private import ray_constants  # read once at import: set for this process too

    saved = os.environ.get(CLUSTER_ENV_VAR), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[CLUSTER_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved[1]
        if saved[0] is None:
            os.environ.pop(CLUSTER_ENV_VAR, None)
        else:
            os.environ[CLUSTER_ENV_VAR] = saved[0]
