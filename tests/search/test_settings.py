from __future__ import annotations

import os

import pytest

from slimtune.search._errors import UsageError
from slimtune.search._settings import HeldOut, SearchSettings


def test_flags_override_the_study_toml_which_overrides_defaults(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('min-accuracy = 0.98\ntrials = 12\nsize_objective = "macs"\n')
    settings = SearchSettings.from_sources(str(path), {"trials": 4, "epochs": None})
    assert (
        settings.selection.min_accuracy,
        settings.study.trials,
        settings.strategy.size_objective,
    ) == (0.98, 4, "macs")
    assert settings.training.epochs == 5


def test_resolved_defaults_live_in_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = SearchSettings.of(out=str(tmp_path)).resolved()
    assert settings.study.storage == f"sqlite:///{tmp_path}/optuna.db"
    assert settings.tracking.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert (
        settings.study.study_name == "slimtune-mnist"
        and settings.tracking.model_name == "slimtune-mnist"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert (
        SearchSettings.of(out=str(tmp_path)).resolved().tracking.tracking_uri
        == "http://127.0.0.1:5000"
    )


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_default_workers_are_the_cores_the_process_may_use(tmp_path):
    """A search under `taskset -c 0` (or a cpuset) runs one trial at a time, not one per core
    of the machine."""
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert SearchSettings.of(out=str(tmp_path)).resolved().execution.workers == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert SearchSettings.of(out=str(tmp_path)).resolved().execution.workers == len(allowed)
    assert SearchSettings.of(out=str(tmp_path), workers=3).resolved().execution.workers == 3


@pytest.mark.parametrize(
    "line, pattern",
    [
        ('trials = "many"', r"trials = 'many' should be int"),
        ("min-accuracy = true", r"min_accuracy = True should be float"),
        ("out = 3", r"out = 3 should be str"),
    ],
)
def test_wrong_types_in_the_study_toml_are_named(tmp_path, line, pattern):
    path = tmp_path / "study.toml"
    path.write_text(line + "\n")
    with pytest.raises(UsageError, match=pattern):
        SearchSettings.from_sources(str(path), {})


def test_budgets_map_to_footprint_fields():
    settings = SearchSettings.of(max_params=10, max_ram_bytes=5)
    assert settings.budgets.limits() == {
        "max_params": ("params", 10),
        "max_ram_bytes": ("tflm_arena_bytes", 5),
    }


def test_held_out_sizes_follow_the_data_unless_given():
    from slimtune.search._settings import held_out_size

    assert held_out_size(60_000) == 5000 and held_out_size(6_000) == 500
    sized = SearchSettings.of().sized_for(60_000)
    assert sized.held_out == HeldOut(5000, 5000)
    small = SearchSettings.of().sized_for(1_797)
    assert small.held_out == HeldOut(149, 149)
    assert small.validation_floor > sized.validation_floor  # fewer images, a wider margin
    given = SearchSettings.of(val_size=1000, recheck_size=0).sized_for(60_000)
    assert given.held_out == HeldOut(1000, 0)
    assert given.recheck_floor == given.selection.min_accuracy  # no recheck split, no margin
    # Only complete settings know their floors: nothing to call before the data is known.
    assert not hasattr(SearchSettings.of(), "validation_floor")


def test_the_margin_is_the_one_sided_binomial_bound():
    settings = SearchSettings.of(min_accuracy=0.99, confidence=0.95).sized_for(60_000)
    assert settings.validation_floor == pytest.approx(
        0.99 + 1.6449 * (0.99 * 0.01 / 5000) ** 0.5, abs=1e-6
    )
    assert SearchSettings.of(confidence=0.5).sized_for(60_000).validation_floor == 0.95


def test_focus_is_on_for_the_smallest_strategy_unless_asked_otherwise():
    assert SearchSettings.of().resolved().strategy.focus is True
    assert SearchSettings.of(strategy="front").resolved().strategy.focus is False
    assert SearchSettings.of(focus=False).resolved().strategy.focus is False
    assert SearchSettings.of(strategy="front", focus=True).resolved().strategy.focus is True


def test_the_full_recipe_defaults_to_four_times_the_epochs_and_is_never_shorter(tmp_path):
    assert SearchSettings.of(epochs=2).resolved().training.full_epochs == 8
    assert SearchSettings.of(epochs=2, full_epochs=2).training.full_recipe.epochs == 2
    assert SearchSettings.of(epochs=2, full_epochs=7).training.full_recipe.schedule == "cosine"
    with pytest.raises(UsageError, match=r"--full-epochs 1: use at least --epochs \(2\)"):
        SearchSettings.of(epochs=2, full_epochs=1)


def test_log_models_defaults_to_front_and_refuses_other_values(tmp_path):
    assert SearchSettings.of().tracking.log_models == "front"
    path = tmp_path / "study.toml"
    path.write_text('log-models = "all"\n')
    assert SearchSettings.from_sources(str(path), {}).tracking.log_models == "all"
    with pytest.raises(
        UsageError,
        match=r"^--log-models every: use one of all, front, "
        r"confirmed$",
    ):
        SearchSettings.of(log_models="every")


def test_augmentation_is_part_of_the_recipe_and_refused_for_a_hypermodel():
    assert SearchSettings.of(augment="shift").training.recipe.augment == "shift"
    with pytest.raises(UsageError, match=r"^--augment shift: leave it out with --hypermodel"):
        SearchSettings.of(augment="shift", hypermodel="my_models.py:build")


def test_a_storage_password_is_refused_on_the_command_line_but_kept_in_an_owner_only_toml(
    tmp_path,
):
    """The command line is what `ps`, /proc/*/cmdline and a Ray job table show; a study TOML
    only its owner can read is one of the places the password may live instead."""
    url = "postgresql://slimtune:s3cr3t@127.0.0.1:9/optuna"
    with pytest.raises(UsageError, match=r"^--storage postgresql://slimtune:\*\*\*@.*PGPASSWORD"):
        SearchSettings.from_sources(None, {"storage": url})
    config = tmp_path / "study.toml"
    config.write_text(f'storage = "{url}"\n')
    config.chmod(0o600)
    assert SearchSettings.from_sources(str(config), {}).study.storage == url
    config.chmod(0o640)
    with pytest.raises(UsageError, match=r"others may read it \(mode 640\).*chmod 600"):
        SearchSettings.from_sources(str(config), {})
    # The same flag without a password overrides the file's, as every flag does.
    bare = "postgresql://slimtune@127.0.0.1:9/optuna"
    config.chmod(0o600)
    assert SearchSettings.from_sources(str(config), {"storage": bare}).study.storage == bare
