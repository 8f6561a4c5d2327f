"""Shared fixtures. MNIST comes from ../shared/datasets/mnist (or SLIMTUNE_DATA_DIR)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from support.cli import ROOT, TINY_SPACE


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    # Absolute: tests hand it to commands that run in other folders (a Ray job, a copied tree),
    # and README's test command sets SLIMTUNE_DATA_DIR=../shared/datasets/mnist.
    path = Path(os.environ.get("SLIMTUNE_DATA_DIR", ROOT.parent / "shared" / "datasets" / "mnist"))
    path = path.resolve()
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST not found at {path}; set SLIMTUNE_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def space_file(tmp_path_factory) -> Path:
    """TINY_SPACE as a file."""
    path = tmp_path_factory.mktemp("space") / "space.toml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture(autouse=True)
def _keep_mlflow_tracking_uri():
    """`mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI to every later subprocess; a test
    that calls it must not steer the CLI runs of the tests after it."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(saved or "")
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved
