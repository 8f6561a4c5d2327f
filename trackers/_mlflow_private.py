"""The one private MLflow API slimtune uses, kept here so an upgrade that changes it fails in one
place (tests/trackers/test_mlflow_private.py checks it against the installed MLflow).

`mlflow.set_tracking_uri` changes the URI for the whole process and every later subprocess;
MLflow's own context manager scopes it to a block, which the public API does not offer."""

from __future__ import annotations

from contextlib import AbstractContextManager


def scoped_tracking_uri(uri: str) -> AbstractContextManager[None]:
    """MLflow's process-wide tracking URI set to `uri` for one `with` block."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    return _use_tracking_uri(uri)
