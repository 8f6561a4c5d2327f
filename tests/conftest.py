"""Shared fixtures. MNIST comes from ../shared/datasets/mnist (or SLIMTUNE_DATA_DIR)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SLIMTUNE = [sys.executable, "-m", "search.cli"]
# A small space for integration tests: trials train in about a second on 1,000 images.
TINY_SPACE = """
blocks = [1, 2]
kernel_size = [3, 5]
filters = [2, 8]
pool = [2, 4]
head = ["flatten", "gap"]
dense_units = [8, 32]
dense_optional = true
dropout = [0.0]
"""


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = Path(os.environ.get("SLIMTUNE_DATA_DIR", ROOT.parent / "shared" / "datasets" / "mnist"))
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST not found at {path}; set SLIMTUNE_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def space_file(tmp_path_factory) -> Path:
    """TINY_SPACE as a file."""
    path = tmp_path_factory.mktemp("space") / "space.toml"
    path.write_text(TINY_SPACE)
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 900
            ) -> subprocess.CompletedProcess:
    """Run the real `slimtune` CLI in a subprocess, as a user would."""
    return subprocess.run([*SLIMTUNE, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


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
