"""The one private Ray API (search/execution/_ray_private.py) against the installed Ray."""

from __future__ import annotations

import os

from ray._private import ray_constants

from slimtune.search.execution._ray_private import CLUSTER_ENV_VAR, loopback_only


def test_clustering_is_off_inside_the_block_and_restored_after():
    before = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(CLUSTER_ENV_VAR)
    with loopback_only():
        assert ray_constants.ENABLE_RAY_CLUSTER is False
        assert os.environ[CLUSTER_ENV_VAR] == "0"
    assert (ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(CLUSTER_ENV_VAR)) == before
