"""What `pip install slimtune` puts into site-packages: one top-level package, `slimtune` (the
concept folders install as slimtune.spaces, slimtune.search, ...), and none of the test harness;
installed beside the package index's own `spaces`, both import and stay distinct."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What `slimtune --help` and `import slimtune.spaces` load in a fresh environment (the heavy
# libraries, TensorFlow, Ray, MLflow, Optuna, load only inside the commands that use them).
HELP_NEEDS = ["typer", "rich", "numpy"]
# The index's `spaces` (Hugging Face's ZeroGPU helper) and what `import spaces` needs of its
# requirements; gradio, the large one, it does not.
SPACES_NEEDS = ["packaging", "typing-extensions", "requests", "pydantic", "httpx", "psutil"]


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", folder, ROOT)
    (found,) = folder.glob("slimtune-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package_and_no_test_harness(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"slimtune", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert "slimtune/search/__init__.py" in names and "slimtune/spaces/default.toml" in names
    assert "slimtune/spaces/devices/mcu-256k.toml" in names and "slimtune/py.typed" in names
    launchers = [
        n
        for n in names
        if n.rsplit("/", 1)[-1] in ("services.py", "processes.py")
        or "/testing/" in n
        or n.startswith("slimtune/tests")
    ]
    assert launchers == []


def test_installed_beside_the_index_spaces_package_both_import(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel)
    run(python, "-m", "pip", "install", "--quiet", *HELP_NEEDS)
    run(python, "-m", "pip", "install", "--quiet", *SPACES_NEEDS)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "spaces")
    helped = run(venv / "bin" / "slimtune", "--help", cwd=tmp_path)
    assert "Find the smallest CNN" in helped.stdout and "search" in helped.stdout
    code = (
        "import spaces, slimtune.spaces as ours; "
        "assert spaces.__file__ != ours.__file__, (spaces.__file__, ours.__file__); "
        "assert hasattr(spaces, 'GPU') and hasattr(ours, 'CNNConfig'); "
        "print(spaces.__file__); print(ours.__file__)"
    )
    shown = run(python, "-c", code, cwd=tmp_path).stdout.split()
    assert shown[0].endswith("site-packages/spaces/__init__.py")
    assert shown[1].endswith("site-packages/slimtune/spaces/__init__.py")
