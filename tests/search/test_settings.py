from __future__ import annotations

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
