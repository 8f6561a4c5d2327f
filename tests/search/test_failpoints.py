"""The fail-point hook reads its faults file at every use: a file that is missing or does not
parse is a broken test and says so, instead of silently injecting nothing."""

from __future__ import annotations

import pytest

from slimtune.search._failpoints import ENV_VAR, FaultsFileError, apply_faults, fail_point


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"kill_at": "trial.asked"', "not valid JSON"),
        ('["trial.asked"]', "use a JSON object"),
        (None, "cannot read it"),
    ],
)
def test_a_faults_file_that_cannot_be_used_is_an_error(tmp_path, monkeypatch, text, match):
    path = tmp_path / "faults.json"
    if text is not None:
        path.write_text(text)
    monkeypatch.setenv(ENV_VAR, str(path))
    with pytest.raises(FaultsFileError, match=rf"^{ENV_VAR}=.*faults.json: {match}"):
        fail_point("trial.asked")
    with pytest.raises(FaultsFileError):
        apply_faults("c5x6", object())


def test_an_empty_faults_file_is_one_being_rewritten_and_injects_nothing(tmp_path, monkeypatch):
    path = tmp_path / "faults.json"
    path.write_text("")
    monkeypatch.setenv(ENV_VAR, str(path))
    recipe = object()
    fail_point("trial.asked")
    assert apply_faults("c5x6", recipe) is recipe
