"""The trials table, the figures and the HTML report (search/analysis/_trials.py, _plots.py,
_report.py) on a real in-memory Optuna study whose trials carry what a search records."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import matplotlib.image
import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from slimtune.search import SearchSettings, UsageError
from slimtune.search.analysis import (
    FIGURES,
    TRIALS_CSV,
    load_finished_search,
    pareto_front,
    read_trials_csv,
    report_html,
    trials_csv,
    write_figures,
)
from slimtune.search.analysis._plots import smallest_feasible_over_time
from slimtune.search.study import StudyContext, trial_points, trial_rows
from slimtune.spaces import CNNConfig, ConvBlock, Recipe, SearchSpace, footprint

FLOOR = 0.9
NETWORK_TAG = re.compile(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:")
START = datetime(2026, 12, 3, 10, 0, 0)
# (kernel, filters, worst-case val accuracy, finished after s); None: pruned before training
TRIALS = [
    (5, 8, 0.97, 10),
    (3, 8, 0.95, 20),
    (3, 2, 0.85, 30),
    (1, 4, 0.91, 40),
    (3, 4, 0.93, 50),
    (5, 1, None, 60),
]


def add_trial(
    study: optuna.Study,
    number: int,
    kernel: int,
    filters: int,
    accuracy: float | None,
    finished_s: int,
) -> None:
    config = CNNConfig((ConvBlock(kernel, filters, 4),), "flatten", 16, 0.0)
    fp = footprint(config, (28, 28, 1), 10)
    attrs = {"config": config.to_dict(), "summary": config.summary(), "footprint": fp.to_dict()}
    if accuracy is not None:
        attrs |= {
            "seeds": [0, 1],
            "val_accuracies": [accuracy, accuracy + 0.01],
            "epochs": 1,
            "train_time_s": 1.5,
        }
    else:
        attrs["prune_reason"] = "out of focus: params above the smallest feasible"
    study.add_trial(
        FrozenTrial(
            number,
            TrialState.COMPLETE if accuracy is not None else TrialState.PRUNED,
            None,
            START + timedelta(seconds=finished_s - 10),
            START + timedelta(seconds=finished_s),
            {},
            {},
            attrs,
            {},
            {},
            number,
            values=[accuracy, fp.params] if accuracy is not None else None,
        )
    )


@pytest.fixture
def study_ctx() -> StudyContext:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, trial in enumerate(TRIALS):
        add_trial(study, number, *trial)
    settings = SearchSettings.of(min_accuracy=FLOOR, confidence=0.5).sized_for(60_000)
    return StudyContext(settings, study, SearchSpace(), Recipe(), (28, 28, 1), 10)


def result_of(ctx: StudyContext, chosen_number: int) -> dict:
    """result.json's value, with the fields the report reads."""
    points = trial_points(ctx)
    pick = next(p for p in points if p.number == chosen_number)
    trial = ctx.study.trials[chosen_number]
    return {
        "study": {
            "name": "unit",
            "storage": "memory",
            "n_complete": 5,
            "n_failed": 0,
            "n_pruned": 1,
        },
        "floor": FLOOR,
        "size_objective": "params",
        "selection": {
            "strategy": "smallest",
            "validation_floor": FLOOR,
            "epochs": 1,
            "full_epochs": 4,
            "rule": "smallest feasible first",
        },
        "chosen": {
            "trial_number": pick.number,
            "summary": pick.summary,
            "config": pick.config,
            "footprint": trial.user_attrs["footprint"],
            "search_seeds": [0, 1],
            "search_val_accuracies": trial.user_attrs["val_accuracies"],
            "seeds": [1000, 1001],
            "val_accuracies": [0.93, 0.94],
            "test_accuracies": [0.925, 0.93],
            "worst_case_val_accuracy": 0.93,
            "worst_case_test_accuracy": 0.925,
            "recheck_accuracies": [0.92, 0.93],
        },
        "confirmations": [
            {
                "trial_number": pick.number,
                "summary": pick.summary,
                "params": pick.params,
                "seeds": [1000, 1001],
                "val_accuracies": [0.93, 0.94],
                "recheck_accuracies": [0.92, 0.93],
                "recheck_passed": True,
                "test_accuracies": [0.925, 0.93],
                "worst_case_test_accuracy": 0.925,
                "passed": True,
            }
        ],
        "front": [
            {
                "trial_number": p.number,
                "summary": p.summary,
                "params": p.params,
                "size": p.size,
                "worst_case_val_accuracy": p.worst_case_val_accuracy,
                "feasible": p.worst_case_val_accuracy >= FLOOR,
            }
            for p in pareto_front(points)
        ],
        "baseline": {
            "name": "paper-base",
            "summary": "base",
            "footprint": {k: v * 100 for k, v in trial.user_attrs["footprint"].items()},
        },
        "mlflow": {
            "tracking_uri": "sqlite:///x",
            "experiment": "unit",
            "parent_run_id": "p1",
            "registered_model_name": "m",
            "registered_model_version": 1,
            "model_uri": "models:/m@champion",
            "confirmation_run_id": "c1",
        },
        "message": f"chose trial {pick.number} {pick.summary}",
    }


def test_the_trials_table_reads_the_study_and_round_trips_through_csv(study_ctx, tmp_path):
    rows = trial_rows(study_ctx)
    assert [r.number for r in rows] == list(range(len(TRIALS)))
    assert [r.feasible for r in rows] == [True, True, False, True, True, False]
    assert [r.kernel_sizes for r in rows][:4] == ["5", "3", "3", "1"]
    assert rows[0].started_s == 0 and rows[4].finished_s == 50
    assert rows[5].state == "PRUNED" and rows[5].worst_case_val_accuracy is None
    assert rows[5].params and rows[5].reason.startswith("out of focus")
    assert rows[1].val_accuracies == (0.95, 0.96) and rows[1].median_val_accuracy == 0.955
    (tmp_path / TRIALS_CSV).write_text(trials_csv(rows))
    assert read_trials_csv(tmp_path / TRIALS_CSV) == rows


def test_progress_steps_down_at_each_smaller_feasible_trial(study_ctx):
    rows = trial_rows(study_ctx)
    times, sizes = smallest_feasible_over_time(rows)
    by_number = {r.number: r for r in rows}
    # trial 2 is smaller than 4 but below the floor; trial 3 (1x1) is the smallest feasible
    assert times == [10, 20, 40]
    assert sizes == [by_number[0].params, by_number[1].params, by_number[3].params]


def test_figures_and_report_show_the_front_the_floor_and_the_pick(study_ctx, tmp_path):
    rows = trial_rows(study_ctx)
    result = result_of(study_ctx, chosen_number=3)
    paths = write_figures(result, rows, tmp_path / "figures")
    assert [p.name for p in paths] == list(FIGURES)
    for png in (p for p in paths if p.suffix == ".png"):
        pixels = matplotlib.image.imread(png)
        assert pixels.shape[0] > 300 and pixels[..., :3].std() > 0.05, png  # drawn, not blank
    pareto = paths[1].read_text()
    pick = rows[3].summary
    assert f"pick: {pick}" in pareto and '"type":"log"' in pareto.replace(" ", "")
    assert not NETWORK_TAG.search(pareto)  # plotly.js is inline

    page = report_html(result, rows)
    assert page.count("<img alt='figure' src='data:image/png;base64,") == 3
    assert 'id="pareto-front"' in page and f"pick: {pick}" in page
    assert "<tr class=pick>" in page and "0.9250" in page  # the pick's row; its worst test seed
    assert not NETWORK_TAG.search(page)  # opens without a network


def test_report_input_is_the_folder_of_a_finished_search(study_ctx, tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        load_finished_search(tmp_path / "missing")
    with pytest.raises(UsageError, match="no result.json there, so no finished search"):
        load_finished_search(tmp_path)
    (tmp_path / "result.json").write_text(json.dumps(result_of(study_ctx, 3)))
    with pytest.raises(UsageError, match="no trials.csv there"):
        load_finished_search(tmp_path)
    (tmp_path / TRIALS_CSV).write_text("number,state\n1,COMPLETE\n")
    with pytest.raises(UsageError, match="trials.csv line 2: column 'summary' missing"):
        load_finished_search(tmp_path)
    (tmp_path / TRIALS_CSV).write_text(trials_csv(trial_rows(study_ctx)))
    result, rows = load_finished_search(tmp_path)
    assert result["chosen"]["trial_number"] == 3 and len(rows) == len(TRIALS)


def test_a_search_stopped_before_any_trial_trained_still_draws(study_ctx, tmp_path):
    result = result_of(study_ctx, 3) | {
        "chosen": None,
        "confirmations": [],
        "front": [],
        "message": "interrupted with 0 of 6 trials finished",
    }
    assert len(write_figures(result, [], tmp_path)) == len(FIGURES)
    page = report_html(result, [])
    assert "interrupted with 0 of 6" in page and "No configuration was chosen" in page
