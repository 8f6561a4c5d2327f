"""The `evaluate` command end to end (real training, tiny budget)."""

from __future__ import annotations

import json

from support.cli import run_cli


def test_evaluate_a_preset_prints_footprint_and_seed_accuracies(mnist_dir):
    done = run_cli(
        "evaluate",
        "--preset",
        "paper-final",
        "--data-dir",
        mnist_dir,
        "--train-subset",
        1000,
        "--epochs",
        1,
        "--seeds",
        2,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["footprint"]["params"] == 14_014
    assert report["seeds"] == [0, 1] and len(report["val_accuracies"]) == 2
    assert report["worst_case_val_accuracy"] == min(report["val_accuracies"])
    assert 0.0 <= report["worst_case_val_accuracy"] <= 1.0


def test_evaluate_refuses_unknown_preset_and_bad_json(mnist_dir):
    done = run_cli("evaluate", "--preset", "paper-huge", "--data-dir", mnist_dir, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "slimtune: error: --preset paper-huge: unknown preset 'paper-huge'; use one of "
        "['paper-1x1', 'paper-base', 'paper-final']"
    )
    done = run_cli("evaluate", "--config-json", '{"blocks": [], "colour": 1}', timeout=120)
    assert done.returncode == 2 and "unknown config key 'colour'" in done.stderr
