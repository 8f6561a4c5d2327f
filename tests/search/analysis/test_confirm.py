"""The selection rule after the trials (search/analysis/_confirm.py), with a scripted executor:
recheck smallest first, the first that holds the recheck floor is the pick, the test split is
read for the pick only, and a pick that misses on test is reported, never replaced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pytest

from slimtune.search._data import Split
from slimtune.search._progress import Progress
from slimtune.search._settings import SearchSettings
from slimtune.search.analysis import _confirm
from slimtune.search.analysis.pareto import TrialPoint
from slimtune.search.study._context import StudyContext
from slimtune.search.training import SeedsOutcome
from slimtune.spaces import Recipe, SearchSpace

FLOOR = 0.95
HELD_OUT = 0.9551  # recheck floor with the default margin on 5,000 images, rounded up


class ScriptedExecutor:
    """Each candidate's fresh-seed accuracy on the held-out split, by filters of its block."""

    def __init__(self, held_out: dict[int, float], int8: dict[int, float] | None = None) -> None:
        self.held_out = held_out
        self.int8 = int8 or held_out  # the int8 file's accuracy; by default as the float's
        self.trained: list[int] = []
        self.groups: list[list[int]] = []
        self.calibration: list[int] = []

    def put(self, value):
        return value

    def submit(self, request, train, val, held_out=None):
        assert request.every_model and request.kind == "confirm"  # every seed's model is kept
        filters = request.config.blocks[0].filters
        seeds = list(request.seeds)
        self.trained.append(filters)
        self.groups.append(list(seeds))
        models = [f"model {filters} seed {seed}".encode() for seed in seeds]
        calibration = request.int8_calibration
        self.calibration.append(0 if calibration is None else len(calibration))
        int8 = calibration is not None
        return SeedsOutcome(
            seeds=seeds,
            val_accuracies=[0.97 + seed * 1e-5 for seed in seeds],
            test_accuracies=[self.held_out[filters]] * len(seeds),
            train_time_s=0.0,
            median_seed=seeds[0],
            model_keras=models[0],
            seed_models=models,
            int8_test_accuracies=[self.int8[filters]] * len(seeds) if int8 else None,
            seed_int8=[b"int8 " + model for model in models] if int8 else [],
        )

    def result(self, ref):
        return ref


@dataclass
class Records:
    spool: Path
    online = True

    def attempt(self, write):
        return None  # MLflow unreachable: the records keep run_id None


RECHECK = Split(np.zeros((3, 28, 28, 1), np.uint8), np.zeros(3, np.int32))
TRAIN = Split(np.full((600, 28, 28, 1), 255, np.uint8), np.zeros(600, np.int32))
TEST = Split(np.ones((4, 28, 28, 1), np.uint8), np.ones(4, np.int32))


class Source:
    name = "mnist"

    def __init__(self) -> None:
        self.test_reads = 0

    def recheck(self, val_size, size):
        return RECHECK

    def train_val(self, val_size):
        return TRAIN, None

    def test(self):
        self.test_reads += 1
        return TEST

    def location(self, context):
        return Path(f"/data/{context}")


def point(number: int, filters: int) -> TrialPoint:
    config = {
        "blocks": [{"kernel_size": 3, "filters": filters, "pool": 2, "padding": "same"}],
        "head": "gap",
        "dense_units": 0,
        "dropout": 0.0,
    }
    return TrialPoint(
        number=number,
        config=config,
        summary=f"c3x{filters}-p2|gap",
        worst_case_val_accuracy=0.97,
        size=filters * 10,
        params=filters * 10,
        within_budgets=True,
    )


def confirm(tmp_path, monkeypatch, held_out, test_accuracy, int8=None, int8_test=None, **settings):
    test_models = []

    def on_test(model_keras: bytes, split) -> float:
        assert split is TEST
        test_models.append(model_keras)
        return test_accuracy

    def on_test_int8(blob: bytes, x, y) -> float:
        assert blob.startswith(b"int8 ") and len(x) == len(TEST.x) and x.dtype == np.float32
        test_models.append(blob)
        return test_accuracy if int8_test is None else int8_test

    monkeypatch.setattr(_confirm, "saved_model_accuracy", on_test)
    monkeypatch.setattr(_confirm, "litert_accuracy", on_test_int8)
    s = SearchSettings.of(**{"min_accuracy": FLOOR, "seeds": 2, "workers": 2} | settings).sized_for(
        60_000
    )
    ctx = StudyContext(
        s,
        optuna.create_study(directions=["maximize", "minimize"]),
        SearchSpace(),
        Recipe(),
        (28, 28, 1),
        10,
    )
    executor, source = ScriptedExecutor(held_out, int8), Source()
    chosen, confirmations, record = _confirm.confirm_candidates(
        ctx,
        executor,
        Records(tmp_path),
        ("train", "val"),
        source,
        [point(0, 2), point(1, 3), point(2, 4)],
        Progress(),
    )
    return chosen, confirmations, executor, source, test_models, record


def test_the_first_candidate_to_hold_the_recheck_floor_is_the_pick(tmp_path, monkeypatch):
    chosen, confirmations, executor, source, models, record = confirm(
        tmp_path, monkeypatch, {2: 0.953, 3: 0.957, 4: 0.99}, 0.96
    )
    assert chosen.number == 1  # 0.953 holds the floor but not its margin on the recheck split
    assert executor.trained == [2, 2, 3, 3]  # one task per fresh seed; the third never trained
    assert [c.recheck_passed for c in confirmations] == [False, True]
    assert (
        confirmations[0].test_accuracies == [] and confirmations[0].worst_case_test_accuracy is None
    )
    assert source.test_reads == 1 and models[:2] == [b"model 3 seed 500", b"model 3 seed 501"]
    assert models[2:] == [b"int8 model 3 seed 500", b"int8 model 3 seed 501"]  # judged as int8
    assert confirmations[1].passed and confirmations[1].worst_case_test_accuracy == 0.96
    # what its MLflow run will list as read besides the parent's splits
    assert [(d["context"], d["digest"], d["features_shape"]) for d in record["datasets"]] == [
        ("recheck", RECHECK.digest, [3, 28, 28, 1]),
        ("test", TEST.digest, [4, 28, 28, 1]),
    ]


def test_a_pick_below_the_floor_on_test_is_reported_and_not_replaced(tmp_path, monkeypatch):
    chosen, confirmations, executor, source, _, _ = confirm(
        tmp_path, monkeypatch, {2: 0.96, 3: 0.99, 4: 0.99}, 0.94
    )
    assert chosen is None and len(confirmations) == 1
    assert confirmations[0].recheck_passed and not confirmations[0].passed
    assert executor.trained == [2, 2] and source.test_reads == 1


def test_without_a_recheck_split_candidates_are_confirmed_on_test(tmp_path, monkeypatch):
    chosen, confirmations, executor, source, models, record = confirm(
        tmp_path, monkeypatch, {2: 0.94, 3: 0.951, 4: 0.99}, 0.0, recheck_size=0
    )
    assert chosen.number == 1 and [c.passed for c in confirmations] == [False, True]
    assert [c.recheck_passed for c in confirmations] == [None, None]
    assert confirmations[1].test_accuracies == [0.951, 0.951] and models == []
    assert [d["context"] for d in record["datasets"]] == ["test"]


def test_fresh_seeds_train_packed_one_task_per_worker_and_keep_their_order(tmp_path, monkeypatch):
    chosen, confirmations, executor, _, models, record = confirm(
        tmp_path, monkeypatch, {2: 0.99, 3: 0.99, 4: 0.99}, 0.96, seeds=5, workers=2
    )
    assert chosen.number == 0
    assert executor.groups == [[500, 501, 502], [503, 504]]  # 5 seeds on 2 workers: 2 tasks
    assert record["val_accuracies"] == [0.97 + seed * 1e-5 for seed in range(500, 505)]
    assert record["median_seed"] == 502
    assert models[:5] == [f"model 2 seed {seed}".encode() for seed in range(500, 505)]


def test_a_candidate_holds_only_if_its_int8_file_holds_too(tmp_path, monkeypatch):
    # Float 0.99 on the recheck split, but its int8 file 0.952: below the recheck floor 0.9551.
    chosen, confirmations, executor, source, models, record = confirm(
        tmp_path, monkeypatch, {2: 0.99, 3: 0.99, 4: 0.99}, 0.96, int8={2: 0.952, 3: 0.97, 4: 0.99}
    )
    assert executor.calibration == [500] * 4  # the calibration images `pull` uses
    assert chosen.number == 1 and [c.recheck_passed for c in confirmations] == [False, True]
    assert confirmations[0].int8_recheck_accuracies == [0.952, 0.952]
    assert confirmations[1].int8_test_accuracies == [0.96, 0.96]
    assert confirmations[1].worst_case_int8_test_accuracy == 0.96
    assert record["judge"] == "int8" and record["int8_recheck_accuracies"] == [0.97, 0.97]
    assert not list(tmp_path.glob("*c3x2*"))  # the rejected candidate's files left the spool


def test_an_int8_file_below_the_floor_on_test_fails_the_pick(tmp_path, monkeypatch):
    chosen, confirmations, _, source, _, _ = confirm(
        tmp_path, monkeypatch, {2: 0.99, 3: 0.99, 4: 0.99}, 0.96, int8_test=0.949
    )
    assert chosen is None and confirmations[0].recheck_passed and not confirmations[0].passed
    assert confirmations[0].worst_case_test_accuracy == 0.96 and source.test_reads == 1


def test_judged_as_float_the_int8_file_is_not_made(tmp_path, monkeypatch):
    chosen, confirmations, executor, _, models, record = confirm(
        tmp_path,
        monkeypatch,
        {2: 0.99, 3: 0.99, 4: 0.99},
        0.96,
        int8={2: 0.5, 3: 0.5, 4: 0.5},
        judge="float",
    )
    assert chosen.number == 0 and executor.calibration == [0, 0]
    assert confirmations[0].int8_test_accuracies == [] and record["judge"] == "float"
    assert models == [b"model 2 seed 500", b"model 2 seed 501"]


@pytest.mark.parametrize(
    "seeds, workers, groups",
    [
        ([1, 2, 3, 4, 5], 2, [[1, 2, 3], [4, 5]]),
        ([1, 2, 3], 8, [[1], [2], [3]]),
        ([1, 2, 3, 4], 1, [[1, 2, 3, 4]]),
        ([1, 2, 3, 4, 5, 6, 7], 3, [[1, 2, 3], [4, 5], [6, 7]]),
    ],
)
def test_seed_groups(seeds, workers, groups):
    from slimtune.search.training import seed_groups

    assert seed_groups(seeds, workers) == groups
