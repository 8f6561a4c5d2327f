"""Every benchmark script runs end to end at a tiny size, so none of them can rot.

The figures these tiny runs print mean nothing; BENCHMARKS.md holds the real runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--train-size", "400", "--epochs", "1"]


def bench(script: str, *args: str, mnist_dir: Path, timeout: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "SLIMTUNE_DATA_DIR": str(mnist_dir), "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_throughput_prints_both_rates_and_the_ratio_of_each_model(mnist_dir, tmp_path):
    out = bench(
        "throughput.py",
        *TINY,
        "--seeds",
        "2",
        "--rounds",
        "1",
        "--config",
        "tiny",
        "--config",
        "separable-bn",
        "--breakdown",
        "--out",
        tmp_path / "t.json",
        mnist_dir=mnist_dir,
    )
    lines = out.strip().splitlines()
    assert lines[-1].startswith("ratios: c3x3-p2|c3x6v-p4|flatten (748 params) ")
    assert "s3x8-p2|s3x12v-p4|flatten|bn (1,295 params)" in lines[-1]
    assert sum(line.strip().startswith("plain_fit") for line in lines) == 2
    result = json.loads((tmp_path / "t.json").read_text())
    assert [m["params"] for m in result["models"]] == [748, 1_295]
    assert all(m["ratio"] > 0 for m in result["models"])
    assert all(
        m["compute_bound_images_per_s"] > 0 and m["share_of_bound"] > 0 for m in result["models"]
    )
    assert (
        sum(line.strip().startswith("compute bound (bare forward+backward, ") for line in lines)
        == 2
    )
    # --breakdown: the optimizer's rate and the trainer's, and three shares (any sign at this
    # size: the tiny run's timings are noise)
    assert sum(line.strip().startswith("short of the bound: optimizer ") for line in lines) == 2
    for model in result["models"]:
        b = model["breakdown"]
        assert b["with_optimizer_images_per_s"] > 0
        assert b["bound_images_per_s"] == model["compute_bound_images_per_s"]
        assert {
            "lost_to_optimizer",
            "lost_to_step_and_data",
            "lost_to_fixed_costs",
            "fixed_cost_per_seed_s",
            "trainer_steady_images_per_s",
        } <= set(b)


def test_throughput_on_the_avx2_stand_in_runs_each_row_in_its_own_process(mnist_dir, tmp_path):
    """--cpu avx2: TensorFlow's default plain `fit` there (oneDNN off), plain `fit` with oneDNN,
    slimtune as shipped and slimtune with oneDNN off, each a process with
    ONEDNN_MAX_CPU_ISA=AVX2."""
    out = bench(
        "throughput.py",
        *TINY,
        "--seeds",
        "2",
        "--rounds",
        "1",
        "--config",
        "tiny",
        "--cpu",
        "avx2",
        "--bound",
        "--out",
        tmp_path / "t.json",
        mnist_dir=mnist_dir,
    )
    assert "every row over plain_fit: plain_fit_onednn " in out and "slimtune_onednn_off" in out
    model = json.loads((tmp_path / "t.json").read_text())["models"][0]
    assert set(model["images_per_s"]) == {
        "plain_fit",
        "plain_fit_onednn",
        "slimtune",
        "slimtune_onednn_off",
    }
    assert model["slimtune_precision"] == "float32"  # no bfloat16 below AVX-512 BF16
    assert model["compute_bound_images_per_s"] > 0
    # the same seeds, packed (oneDNN) or one at a time (without): the same accuracies to float sums
    assert (
        abs(
            model["worst_case_val_accuracy"]["slimtune"][0]
            - model["worst_case_val_accuracy"]["slimtune_onednn_off"][0]
        )
        < 0.02
    )


def test_seed_setup_profiles_what_a_seeds_fixed_cost_is_made_of(mnist_dir, tmp_path):
    out = bench(
        "seed_setup.py",
        "--train-size",
        "128",
        "--rounds",
        "1",
        "--config",
        "tiny",
        "--out",
        tmp_path / "s.json",
        mnist_dir=mnist_dir,
    )
    assert out.startswith("c3x3-p2|c3x6v-p4|flatten: ") and "tracing graphs " in out
    model = json.loads((tmp_path / "s.json").read_text())["models"][0]
    # every part was found in the profile (a renamed function would read 0) and fits in the whole
    assert all(
        0 < seconds <= model["seconds_per_seed"] + 0.001  # both rounded to ms
        for seconds in model["parts"].values()
    ), model


def test_confirmation_times_both_seed_layouts(mnist_dir, tmp_path):
    out = bench(
        "confirmation.py",
        *TINY,
        "--seeds",
        "3",
        "--rounds",
        "1",
        "--config",
        "tiny",
        "--out",
        tmp_path / "c.json",
        mnist_dir=mnist_dir,
    )
    assert out.strip().splitlines()[-1].startswith("ratios: c3x3-p2|c3x6v-p4|flatten (748 params) ")
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["layouts"] == {"per_seed": [[500], [501], [502]], "packed": [[500, 501], [502]]}
    assert all(len(walls) == 1 for walls in result["models"][0]["wall_s"].values())


def test_packing_times_both_ways_and_names_the_rules_choice(mnist_dir, tmp_path):
    out = bench(
        "packing.py",
        *TINY,
        "--seeds",
        "2",
        "--rounds",
        "1",
        "--config",
        "tiny",
        "--config",
        "reference",
        "--out",
        tmp_path / "p.json",
        mnist_dir=mnist_dir,
    )
    assert "the rule packs" in out and "the rule trains one at a time" in out
    result = json.loads((tmp_path / "p.json").read_text())
    assert [m["rule_packs"] for m in result["models"]] == [True, False]
    assert [m["macs"] for m in result["models"]][0] < 250_000 < result["models"][1]["macs"]


def test_early_stopping_measures_and_replays(mnist_dir, tmp_path):
    out = bench(
        "early_stopping.py",
        *TINY,
        "--configs",
        "2",
        "--seeds",
        "2",
        "--floor",
        "0.9",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    summary = json.loads((tmp_path / "early_stopping.json").read_text())
    assert summary["measured"]["configs"] == 2 and "false_stops" in summary["measured"]
    # The offline replay of the rule agrees with what the trainer did at the same floor.
    assert summary["replayed"]["0.9"]["stopped"] == summary["measured"]["stopped"]
    assert '"replayed"' in out
    assert len((tmp_path / "early_stopping.jsonl").read_text().splitlines()) == 2


def test_paper_table_and_slicing_figure(mnist_dir, tmp_path):
    pick = json.dumps({"blocks": [{"kernel_size": 3, "filters": 2, "pool": 4}], "head": "gap"})
    out = bench(
        "paper.py",
        *TINY,
        "--seeds",
        "2",
        "--models",
        "paper-final,paper-1x1",
        "--pick",
        f"0.95={pick}",
        "--slicing",
        "--slice-filters",
        "1",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    table = out.strip().splitlines()
    assert table[-3].startswith("| paper-final | ") and "| 14,014 |" in table[-3]
    assert table[-2].startswith("| paper-1x1 | ") and "| 5,348 |" in table[-2]
    assert table[-1].startswith("| slimtune@0.95 | c3x2-p4\\|gap")
    assert (tmp_path / "kernel_slicing.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.integration
def test_scaling_runs_one_and_two_workers(mnist_dir, tmp_path):
    out = bench(
        "scaling.py",
        "--trials",
        "1",
        "--train-size",
        "300",
        "--seeds",
        "1",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    assert out.strip().splitlines()[-1].startswith("speedup 2 vs 1 worker(s): ")


@pytest.mark.integration
def test_search_efficiency_runs_every_engine_and_resumes(mnist_dir, tmp_path):
    engines = ["slimtune", "optuna", "keras-tuner", "hyperband", "random"]
    args = [
        "--budget-min",
        "0.25",
        *TINY,
        "--seeds",
        "1",
        "--floor",
        "0.5",
        "--engines",
        ",".join(engines),
        "--out",
        tmp_path,
    ]
    out = bench("search_efficiency.py", *args, mnist_dir=mnist_dir)
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines[-5:]] == engines
    assert all(" picks " in line and "first candidate held: " in line for line in lines[-5:])
    for engine in engines:  # each spent its budget, recorded for a resume
        state = json.loads((tmp_path / engine / "r0" / "state.json").read_text())
        assert state["elapsed_s"] >= 10, engine
    assert json.loads((tmp_path / "slimtune" / "r0" / "state.json").read_text())["done"]
    result = json.loads((tmp_path / "search_efficiency_0.5.json").read_text())
    assert list(result["engines"]) == engines
    assert result["engines"]["optuna"]["summary"]["repeats"] == 1
    rerun = bench("search_efficiency.py", *args, mnist_dir=mnist_dir)  # budget spent: analyse only
    assert "budget left" not in rerun and "finishing its analysis" not in rerun
    summary = bench("study_summary.py", tmp_path / "slimtune", mnist_dir=mnist_dir)
    assert summary.startswith("r0: trials ") and "   pick: " in summary
    assert re.search(
        r"^   [\d,]+-[\d,]* params: \d+ trained, \d+ promoted; best first seed 0\.\d{4}",
        summary,
        re.MULTILINE,
    ), summary  # the per-size lines


def test_study_summary_reads_first_seeds_per_size_band_and_what_promotion_changed(monkeypatch):
    import optuna

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import study_summary

    def trial(number, params, val, screen=None, seconds=1.0):
        attrs = {"footprint": {"params": params}, "val_accuracies": val, "train_time_s": seconds}
        if screen:
            attrs["screen_val_accuracies"] = screen
        made = optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs=attrs)
        made.number = number
        return made

    lines = study_summary._by_size(
        [
            trial(0, 500, [0.95]),
            trial(1, 800, [0.97, 0.90], screen=[0.96], seconds=8.0),
            trial(2, 2_000, [0.94], screen=[0.95], seconds=6.0),
            trial(3, 150_000, [0.99]),
        ]
    )
    assert lines == [
        "   0-999 params: 2 trained, 1 promoted; best first seed 0.9600 after the first rung, "
        "0.9700 after the full recipe",
        "   1,000-2,999 params: 1 trained, 1 promoted; best first seed 0.9500 after the first "
        "rung, 0.9400 after the full recipe",
        "   100,000- params: 1 trained, 0 promoted; best first seed 0.9900 after the first rung",
        "   promotion: first seed full recipe minus first rung, median +0.00 points (range "
        "-1.00 to +1.00), higher in 1 of 2; promoted trials trained 14 of 16 s",
    ]


def test_search_efficiency_runs_slimtune_at_another_confidence_in_its_own_folder(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import search_efficiency

    args = argparse.Namespace(
        floor=0.95,
        seeds=5,
        epochs=5,
        train_size=1000,
        out=tmp_path,
        slimtune_focus=False,
        slimtune_no_focus=False,
        slimtune_no_shrink=False,
        slimtune_confidence=0.9,
    )
    command = search_efficiency.slimtune_command(tmp_path, args, repeat=0, timeout_s=60)
    assert command[command.index("--confidence") + 1] == "0.9"
    folder = search_efficiency.engine_folder("slimtune", 1, args)
    assert folder == tmp_path / "slimtune-confidence0.9" / "r1"
    default = search_efficiency.slimtune_command(
        tmp_path,
        argparse.Namespace(**{**vars(args), "slimtune_confidence": None}),
        repeat=0,
        timeout_s=60,
    )
    assert "--confidence" not in default


def test_samplers_compare_at_equal_trials(mnist_dir, tmp_path):
    out = bench(
        "samplers.py",
        *TINY,
        "--trials",
        "3",
        "--repeats",
        "1",
        "--samplers",
        "tpe,random",
        "--seeds",
        "1",
        "--floor",
        "0.5",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    assert [line.split()[0] for line in out.strip().splitlines()[-2:]] == ["tpe", "random"]


def test_recipe_compares_both_recipes_per_configuration(mnist_dir, tmp_path):
    config = json.dumps({"blocks": [{"kernel_size": 3, "filters": 2, "pool": 4}], "head": "gap"})
    out = bench(
        "recipe.py",
        *TINY,
        "--configs",
        config,
        "--seeds",
        "1",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    last = out.strip().splitlines()[-1]
    assert last.startswith("c3x2-p4|gap") and "new/old time" in last
    rows = json.loads((tmp_path / "recipe.json").read_text())["rows"]
    assert [r["recipe"] for r in rows] == ["old", "new"] and rows[0]["params"] == 50
    out = bench(
        "recipe.py",
        *TINY,
        "--configs",
        config,
        "--seeds",
        "1",
        "--recipes",
        "new,new+affine",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    assert "new+affine/new time" in out.strip().splitlines()[-1]


@pytest.mark.parametrize("source", ["configs", "random"])
def test_fidelity_compares_the_search_and_full_epochs_per_configuration(
    mnist_dir, tmp_path, source
):
    config = json.dumps({"blocks": [{"kernel_size": 3, "filters": 2, "pool": 4}], "head": "gap"})
    chosen = (
        ["--configs", config] if source == "configs" else ["--random", "1", "--max-params", "300"]
    )
    out = bench(
        "fidelity.py",
        "--train-size",
        "400",
        "--epochs",
        "1",
        "--full-epochs",
        "2",
        *chosen,
        "--seeds",
        "1",
        "--out",
        tmp_path,
        mnist_dir=mnist_dir,
    )
    lines = out.strip().splitlines()
    assert "error ratio" in lines[-2] and lines[-1].startswith("required 0.9551, promoted from")
    rows = json.loads((tmp_path / "fidelity.json").read_text())["rows"]
    assert [r["epochs"] for r in rows] == [1, 2] and rows[1]["worst_error_ratio"] > 0
    assert rows[1]["search_verdict"] in ("held", "promoted", "stopped")
    assert rows[0]["params"] <= 300 or source == "configs"


@pytest.mark.integration
def test_other_dataset_runs_the_default_search_on_sklearn_digits(mnist_dir, tmp_path):
    out = bench(
        "other_dataset.py",
        "--timeout-s",
        "5",
        "--floor",
        "0.5",
        "--out",
        tmp_path,
        "--",
        "--trials",
        "2",
        "--epochs",
        "1",
        "--full-epochs",
        "1",
        "--seeds",
        "1",
        mnist_dir=mnist_dir,
    )
    assert "selection: validation 125 images" in out
    summary = json.loads((tmp_path / "other_dataset.json").read_text())
    assert summary["returncode"] == 0 and summary["selection"]["recheck_size"] == 125


@pytest.mark.integration
def test_soak_kills_the_driver_a_worker_and_mlflow_and_finds_nothing_lost(mnist_dir, tmp_path):
    # Every fault once: two kills, one of them with a Ray worker killed, the other with an MLflow
    # restart (killed soon after it, not left to ride it out); 6 trials, so some are left to the
    # runs after the kills.
    out = bench(
        "soak.py",
        "--kills",
        "2",
        "--trials",
        "6",
        "--kill-window-s",
        "2",
        "--ride-out-s",
        "0",
        "--out",
        tmp_path / "soak",
        "--",
        "--full-epochs",
        "1",
        "--confirm-candidates",
        "1",
        mnist_dir=mnist_dir,
        timeout=600,
    )
    assert out.strip().splitlines()[-5:-1] == [
        "trials lost: 0",
        "duplicates: 0",
        "runs left RUNNING: 0",
        "runs failed on their own: 0",
    ]
    summary = json.loads((tmp_path / "soak" / "soak.json").read_text())
    record = summary["record"]
    assert [kill["exit"] for kill in record["kills"]] == [-9, -9]
    assert summary["counts"]["killed_worker_trained"], record["worker_kill"]
    assert record["mlflow_restart"]["down_s"] > 0 and record["final"]["exit"] == 0
    assert summary["counts"]["trials_completed"] == 6 and not summary["missing_faults"]


def test_worker_memory_prints_the_growth_per_trial(mnist_dir, tmp_path):
    out = bench(
        "worker_memory.py",
        "--trials",
        "4",
        "--train-size",
        "400",
        "--seeds",
        "2",
        "--out",
        tmp_path / "m.json",
        mnist_dir=mnist_dir,
    )
    lines = out.strip().splitlines()
    assert len([line for line in lines if " rss " in line]) == 4
    assert lines[-1].startswith("growth ") and "MB per trial" in lines[-1]
    result = json.loads((tmp_path / "m.json").read_text())
    assert len(result["rows"]) == 4 and result["training_split_mb"] > 0


def test_start_small_runs_both_designs_side_by_side(mnist_dir, space_file, tmp_path):
    out = bench(
        "start_small.py",
        "--floor",
        "0.3",
        "--timeout-min",
        "0.05",
        "--repeats",
        "1",
        "--out",
        tmp_path,
        "--",
        "--space",
        space_file,
        "--epochs",
        "1",
        "--train-subset",
        "400",
        "--seeds",
        "1",
        "--trials",
        "3",
        mnist_dir=mnist_dir,
        timeout=600,
    )
    result = json.loads((tmp_path / "start_small.json").read_text())
    (pair,) = result["runs"]
    assert set(pair) == {"small", "random"} and all(run["rc"] == 0 for run in pair.values())
    assert all(run["trials"] >= 1 for run in pair.values())
    assert "medians over 1 repeat(s), --timeout 3s" in out


def test_driver_scale_measures_the_real_driver_against_a_simulated_cluster(mnist_dir, tmp_path):
    """A dozen simulated trials, MLflow in a SQLite file (no server to start): the table, the
    utilisation grid and the JSON are there; the figures mean nothing at this size."""
    out = bench(
        "driver_scale.py",
        "--trials",
        "12",
        "--workers",
        "3",
        "--sizes",
        "12",
        "--train-subset",
        "500",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--out",
        tmp_path / "d.json",
        mnist_dir=mnist_dir,
    )
    assert "== sqlite: " in out and "worker utilisation d / (d + c W)" in out
    run = json.loads((tmp_path / "d.json").read_text())["runs"][0]
    assert run["trained"] > 0 and run["asked"] >= 12
    window = run["windows"][0]
    assert window["median_wall_s"] > 0 and window["sql_statements"] > 0
    assert set(window["mean_wall_by_category_s"]) == {
        "sampler",
        "planner",
        "storage_read",
        "storage_write",
        "mlflow",
        "loop",
    }
    assert all(0 < u <= 1 for u in window["utilisation"].values())
    assert 0 < run["simulated_utilisation"] <= 1
