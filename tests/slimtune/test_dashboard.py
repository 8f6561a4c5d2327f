"""`slimtune dashboard` as a user runs it: a real optuna-dashboard on a real SQLite study, asked
over
HTTP, listening on 127.0.0.1 only, never writing the storage, stopped by Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import re
import select
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.cli import ROOT, SLIMTUNE, run_cli
from support.sockets import listening

STUDY = "watched"


@pytest.fixture(scope="module")
def study_out(tmp_path_factory) -> Path:
    """An output folder holding a real two-objective Optuna study, as a search leaves it."""
    import optuna

    out = tmp_path_factory.mktemp("dashboard")
    study = optuna.create_study(
        study_name=STUDY,
        storage=f"sqlite:///{out / 'optuna.db'}",
        directions=["maximize", "minimize"],
    )
    for accuracy, params in ((0.91, 1200), (0.95, 3400), (0.97, 9100)):
        study.add_trial(
            optuna.trial.create_trial(
                values=[accuracy, params],
                params={"filters": params // 100},
                distributions={"filters": optuna.distributions.IntDistribution(1, 100)},
            )
        )
    return out


def start(*args: str) -> tuple[subprocess.Popen, str]:
    """The dashboard in a subprocess and the URL it prints."""
    proc = subprocess.Popen(
        [*SLIMTUNE, "dashboard", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    if "http://" not in line:
        proc.kill()
        pytest.fail(f"no URL printed: {line!r} {proc.communicate()[1]}")
    return proc, "http://" + line.split("http://", 1)[1].split()[0].removesuffix("/dashboard")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return json.loads(answer.read())


def test_dashboard_lists_the_study_on_loopback_only_and_never_writes(study_out):
    before = hashlib.sha256((study_out / "optuna.db").read_bytes()).hexdigest()
    proc, url = start("--out", str(study_out))
    try:
        studies = get_json(f"{url}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == [STUDY]
        detail = get_json(f"{url}/api/studies/{studies[0]['study_id']}")
        assert len(detail["trials"]) == 3 and len(detail["best_trials"]) == 3  # all on the front
        with urllib.request.urlopen(f"{url}/dashboard", timeout=120) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        assert {(ip, port) for _, ip, port in listening(proc.pid)} == {
            ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        }
        # A note would write the study: the search is the SQLite file's one writer.
        note = urllib.request.Request(
            f"{url}/api/studies/1/note",
            method="PUT",
            data=b'{"version": 1, "body": "hi"}',
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(note, timeout=120)
        assert refused.value.code == 403 and b"read-only" in refused.value.read()
        # The port is taken now: a second dashboard on it is bad input.
        busy = run_cli(
            "dashboard", "--out", study_out, "--port", url.rsplit(":", 1)[1], timeout=300
        )
        assert busy.returncode == 2 and "is in use" in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1, busy.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "dashboard stopped" in stderr
    assert hashlib.sha256((study_out / "optuna.db").read_bytes()).hexdigest() == before


def test_bad_storage_is_one_line_exit_2(tmp_path, study_out):
    import optuna

    empty = tmp_path / "empty.db"
    optuna.storages.RDBStorage(f"sqlite:///{empty}")  # tables, no study
    cases = [
        (["--out", tmp_path / "nowhere"], r"--out .*nowhere: no such folder"),
        (["--out", tmp_path], r"holds no optuna.db; pass the --out of a search"),
        (["--storage", f"sqlite:///{empty}"], r"holds no study; run slimtune search"),
        (["--storage", f"sqlite:///{study_out / 'missing.db'}"], r"no such SQLite file"),
    ]
    for args, message in cases:
        done = run_cli("dashboard", *args, timeout=300)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert re.search(message, done.stderr), done.stderr
    assert not (study_out / "missing.db").exists()


def test_a_storage_password_on_the_command_line_is_refused(tmp_path):
    done = run_cli(
        "dashboard", "--storage", "postgresql://slimtune:s3cr3t@127.0.0.1:9/optuna", timeout=120
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "s3cr3t" not in done.stdout + done.stderr
    assert (
        "--storage postgresql://slimtune:***@127.0.0.1:9/optuna: leave the password off" in lines[0]
    )
