from __future__ import annotations

import os

import pytest

from search._errors import UsageError
from search._settings import SearchSettings


def test_flags_override_the_study_toml_which_overrides_defaults(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('min-accuracy = 0.98\ntrials = 12\nsize_objective = "macs"\n')
    settings = SearchSettings.from_sources(str(path), {"trials": 4, "epochs": None})
    assert (settings.min_accuracy, settings.trials, settings.size_objective) == (0.98, 4, "macs")
    assert settings.epochs == 5


def test_resolved_defaults_live_in_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = SearchSettings(out=str(tmp_path)).resolved()
    assert settings.storage == f"sqlite:///{tmp_path}/optuna.db"
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert settings.study_name == "slimtune-mnist" and settings.model_name == "slimtune-mnist"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert SearchSettings(out=str(tmp_path)).resolved().tracking_uri == "http://127.0.0.1:5000"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_default_workers_are_the_cores_the_process_may_use(tmp_path):
    """A search under `taskset -c 0` (or a cpuset) runs one trial at a time, not one per core
    of the machine."""
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert SearchSettings(out=str(tmp_path)).resolved().workers == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert SearchSettings(out=str(tmp_path)).resolved().workers == len(allowed)
    assert SearchSettings(out=str(tmp_path), workers=3).resolved().workers == 3


@pytest.mark.parametrize("line, pattern", [
    ('trials = "many"', r"trials = 'many' should be int"),
    ("min-accuracy = true", r"min_accuracy = True should be float"),
    ("out = 3", r"out = 3 should be str"),
])
def test_wrong_types_in_the_study_toml_are_named(tmp_path, line, pattern):
    path = tmp_path / "study.toml"
    path.write_text(line + "\n")
    with pytest.raises(UsageError, match=pattern):
        SearchSettings.from_sources(str(path), {})


def test_budgets_map_to_footprint_fields():
    settings = SearchSettings(max_params=10, max_ram_bytes=5)
    assert settings.budgets() == {"max_params": ("params", 10),
                                  "max_ram_bytes": ("peak_activation_bytes_int8", 5)}


def test_held_out_sizes_follow_the_data_unless_given():
    from search._settings import held_out_size

    assert held_out_size(60_000) == 5000 and held_out_size(6_000) == 500
    sized = SearchSettings().sized_for(60_000)
    assert (sized.val_size, sized.recheck_size) == (5000, 5000)
    small = SearchSettings().sized_for(1_797)
    assert (small.val_size, small.recheck_size) == (149, 149)
    assert small.validation_floor > sized.validation_floor  # fewer images, a wider margin
    given = SearchSettings(val_size=1000, recheck_size=0).sized_for(60_000)
    assert (given.val_size, given.recheck_size) == (1000, 0)
    assert given.recheck_floor == given.min_accuracy  # no recheck split, no margin
    with pytest.raises(ValueError, match="call sized_for first"):
        SearchSettings().validation_floor  # noqa: B018


def test_the_margin_is_the_one_sided_binomial_bound():
    settings = SearchSettings(min_accuracy=0.99, confidence=0.95).sized_for(60_000)
    assert settings.validation_floor == pytest.approx(0.99 + 1.6449 * (0.99 * 0.01 / 5000) ** 0.5,
                                                      abs=1e-6)
    assert SearchSettings(confidence=0.5).sized_for(60_000).validation_floor == 0.95


def test_focus_is_on_for_the_smallest_strategy_unless_asked_otherwise():
    assert SearchSettings().resolved().focus is True
    assert SearchSettings(strategy="front").resolved().focus is False
    assert SearchSettings(focus=False).resolved().focus is False
    assert SearchSettings(strategy="front", focus=True).resolved().focus is True


def test_the_full_recipe_defaults_to_four_times_the_epochs_and_is_never_shorter(tmp_path):
    assert SearchSettings(epochs=2).resolved().full_epochs == 8
    assert SearchSettings(epochs=2, full_epochs=2).full_recipe.epochs == 2
    assert SearchSettings(epochs=2, full_epochs=7).full_recipe.schedule == "cosine"
    with pytest.raises(UsageError, match=r"--full-epochs 1: use at least --epochs \(2\)"):
        SearchSettings(epochs=2, full_epochs=1)


def test_log_models_defaults_to_front_and_refuses_other_values(tmp_path):
    assert SearchSettings().log_models == "front"
    path = tmp_path / "study.toml"
    path.write_text('log-models = "all"\n')
    assert SearchSettings.from_sources(str(path), {}).log_models == "all"
    with pytest.raises(UsageError, match=r"^--log-models every: use one of all, front, "
                                         r"confirmed$"):
        SearchSettings(log_models="every")
