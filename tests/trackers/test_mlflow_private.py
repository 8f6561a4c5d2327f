"""The one private MLflow API (trackers/_mlflow_private.py) against the installed MLflow."""

from __future__ import annotations

import mlflow

from slimtune.trackers._mlflow_private import scoped_tracking_uri


def test_the_tracking_uri_is_scoped_to_the_block(tmp_path):
    before = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    with scoped_tracking_uri(uri):
        assert mlflow.get_tracking_uri() == uri
    assert mlflow.get_tracking_uri() == before
