"""The trainer on CPUs other than this machine's: an AVX2-only CPU, where TensorFlow leaves oneDNN
off by default and its own kernels have no gradient for grouped convolutions (packed seeds).

This machine has AVX-512 with bfloat16 units, so oneDNN is always on here; these tests stand in
for an AVX2 CPU as the developers' guide says: oneDNN off, `ONEDNN_MAX_CPU_ISA=AVX2`, and
(following from both) no bfloat16."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support.cli import ROOT, run_cli

AVX2_WITHOUT_ONEDNN = {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def probe(env: dict[str, str]) -> dict:
    """What slimtune's trainer finds in a fresh process with `env` over this one's environment
    (TF_ENABLE_ONEDNN_OPTS removed first: these tests set it or leave it unset on purpose)."""
    base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=base | env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PROBE = """
import json, os
from slimtune.search.training import bfloat16_units, enable_onednn, grouped_convolution_gradients
from slimtune.search.training import resolve_precision
enable_onednn()
print(json.dumps({"onednn": os.environ["TF_ENABLE_ONEDNN_OPTS"],
                  "grouped": grouped_convolution_gradients(), "bf16": bfloat16_units(),
                  "lone_precision": resolve_precision("auto", 1)}))
"""


def test_without_onednn_grouped_gradients_and_bfloat16_are_known_to_be_missing():
    found = probe(AVX2_WITHOUT_ONEDNN)
    assert found == {"onednn": "0", "grouped": False, "bf16": False, "lone_precision": "float32"}


def test_slimtune_turns_onednn_on_unless_the_user_chose():
    """Unset (TensorFlow's default off on an AVX2 CPU): slimtune turns oneDNN on, so packed
    seeds train; the user's own choice stands (the test above)."""
    found = probe({"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert found["onednn"] == "1" and found["grouped"] and not found["bf16"]


@pytest.mark.integration
def test_the_packed_trainer_tests_pass_without_onednn(mnist_dir):
    """The trainer's own tests of packed seeds, on an AVX2 CPU without oneDNN: every seed trains
    (one at a time there) and reaches exactly what it reaches alone."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/search/training/test_trainer.py",
            "-k",
            "exactly_as_each_alone or one_at_a_time or racing or promoted or every_model",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, **AVX2_WITHOUT_ONEDNN, "SLIMTUNE_DATA_DIR": str(mnist_dir)},
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and " deselected" in done.stdout


@pytest.mark.integration
def test_a_search_without_onednn_fails_no_trial(mnist_dir, space_file, tmp_path):
    """A tiny search whose trials pack their seeds (cheap models, 3 seeds), run by a driver and
    Ray workers with oneDNN off: no trial fails (before, every trial that reached its second seed
    failed with "Gradients for grouped convolutions are not supported on CPU")."""
    out = tmp_path / "out"
    done = run_cli(
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space_file,
        "--trials",
        4,
        "--epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        3,
        "--min-accuracy",
        0.2,
        "--out",
        out,
        env=AVX2_WITHOUT_ONEDNN,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = json.loads((out / "result.json").read_text())["study"]
    assert study["n_failed"] == 0 and study["n_complete"] >= 1, study
    assert "grouped" not in (out / "trials.csv").read_text()
