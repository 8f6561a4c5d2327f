"""Crash safety, proven by injecting real faults into real searches: the driver killed with
SIGKILL, a Ray worker killed mid-trial, SIGTERM and Ctrl-C, the MLflow server lost mid-study,
trials whose loss becomes NaN or that raise, and a disk that fills up during a run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from support.cli import run_cli
from support.crash import (
    alive,
    assert_one_run_per_trial,
    cmdline,
    completed,
    descendants,
    experiment_runs,
    start,
    trained_by,
    trainings,
    wait_for,
)

pytestmark = pytest.mark.integration

STUDY = "faults"


def search_args(out: Path, mnist_dir: Path, space: Path, trials: int, *extra: object) -> list:
    return [
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space,
        "--trials",
        trials,
        "--epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--workers",
        2,
        "--min-accuracy",
        0.3,
        "--learning-rate",
        0.01,
        "--out",
        out,
        "--study-name",
        STUDY,
        *extra,
    ]


def fault_env(tmp_path: Path, **faults: str) -> tuple[dict[str, str], Path]:
    """Environment that makes every training task append to trained.log (plus any faults)."""
    trained = tmp_path / "trained.log"
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"record_to": str(trained)} | faults))
    return {"SLIMTUNE_FAULTS": str(path)}, trained


def load_study(out: Path):
    import optuna

    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{out / 'optuna.db'}")


def study_runs(tracking_uri: str) -> list:
    return experiment_runs(tracking_uri, STUDY)


def test_driver_killed_five_times_then_resumed(tmp_path, mnist_dir, space_file):
    from optuna.trial import TrialState

    out = tmp_path / "out"
    env, trained = fault_env(tmp_path)
    args = search_args(out, mnist_dir, space_file, 8)
    rng = random.Random(20261130)
    kept: dict[int, tuple] = {}
    family: list[int] = []
    ended_alone = 0  # attempts that finished the search before their kill (fast machines)
    for attempt in range(5):
        driver = start(args, tmp_path, env, f"killed-{attempt}")
        time.sleep(rng.uniform(4.0, 16.0))
        family += descendants(driver.pid)
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGKILL)
        else:
            ended_alone += driver.returncode == 0
        driver.wait(timeout=30)
        if (out / "optuna.db").exists():
            now = completed(load_study(out))
            assert {n: now[n] for n in kept} == kept, "a completed trial changed"
            kept = now
    done = run_cli(*args, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    study = load_study(out)
    finished = completed(study)
    assert len(finished) == 8 and {n: finished[n] for n in kept} == kept
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(
        t.user_attrs["fail_reason"] == "the driver stopped before the trial finished"
        for t in failed
    )
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    # Nothing was trained twice except configurations whose training a kill cut short.
    # A trial killed right after Optuna's ask has no configuration: it never started.
    interrupted = Counter(t.user_attrs["summary"] for t in failed if "summary" in t.user_attrs)
    trained_once = Counter(
        t.user_attrs["summary"]
        for t in study.trials
        if t.number in finished and "duplicate_of" not in t.user_attrs
    )
    for summary, count in trainings(trained).items():
        assert count <= trained_once[summary] + interrupted[summary], summary
    runs = study_runs(f"sqlite:///{out / 'mlflow.db'}")
    assert_one_run_per_trial(study, runs)
    parents = sorted(
        (r for r in runs if r.data.tags.get("slimtune.role") == "study"),
        key=lambda r: r.info.start_time,
    )
    assert parents[-1].info.status == "FINISHED"
    statuses = Counter(p.info.status for p in parents[:-1])
    assert statuses["FINISHED"] == ended_alone and set(statuses) <= {"KILLED", "FINISHED"}, (
        statuses,
        ended_alone,
    )
    assert json.loads((out / "result.json").read_text())["study"]["n_complete"] >= 1
    # The local Ray each killed driver started goes too (its agents notice within about a minute).
    wait_for(lambda: not any(alive(p) for p in family), 120, "Ray processes to exit")


def test_driver_killed_at_every_seam_then_resumed(tmp_path, mnist_dir, space_file):
    """The driver SIGKILLs itself at each named fail point in turn (search/_failpoints.py),
    each time resumed with the same command; then one run with no fault finishes the study."""
    import mlflow
    from optuna.trial import TrialState

    from slimtune.search._failpoints import FAIL_POINTS

    out = tmp_path / "out"
    faults = tmp_path / "faults.json"
    trained = tmp_path / "trained.log"
    env = {"SLIMTUNE_FAULTS": str(faults)}
    args = search_args(out, mnist_dir, space_file, 5, "--epochs", 2)
    kept: dict[int, tuple] = {}
    for point in FAIL_POINTS:
        faults.write_text(json.dumps({"record_to": str(trained), "kill_at": point}))
        killed = run_cli(*args, env=env, timeout=600)
        assert killed.returncode == -signal.SIGKILL, (
            f"{point}: never reached (exit {killed.returncode}): {killed.stderr[-2000:]}"
        )
        if (out / "optuna.db").exists():
            now = completed(load_study(out))
            assert {n: now[n] for n in kept} == kept, f"a completed trial changed at {point}"
            kept = now
    faults.write_text(json.dumps({"record_to": str(trained)}))
    done = run_cli(*args, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["chosen"] is not None, result["message"]
    study = load_study(out)
    finished = completed(study)
    assert len(finished) == 5 and {n: finished[n] for n in kept} == kept
    assert not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # No completed trial trained again: only trainings a kill cut short were repeated.
    failed = [t for t in study.trials if t.state == TrialState.FAIL and "summary" in t.user_attrs]
    interrupted = Counter(t.user_attrs["summary"] for t in failed)
    trained_once = Counter(
        t.user_attrs["summary"]
        for t in study.trials
        if t.number in finished and "duplicate_of" not in t.user_attrs
    )
    for summary, count in trainings(trained).items():
        assert count <= trained_once[summary] + interrupted[summary], summary
    uri = f"sqlite:///{out / 'mlflow.db'}"
    runs = study_runs(uri)
    assert_one_run_per_trial(study, runs)
    confirmations = Counter(
        (r.data.tags["slimtune.summary"], r.data.tags["slimtune.seeds"])
        for r in runs
        if r.data.tags.get("slimtune.role") == "confirmation"
    )
    assert confirmations and set(confirmations.values()) == {1}, confirmations
    name = result["mlflow"]["registered_model_name"]
    client = mlflow.MlflowClient(uri)
    versions = client.search_model_versions(f"name = '{name}'")
    assert [int(v.version) for v in versions] == [result["mlflow"]["registered_model_version"]]
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.tags["summary"] == result["chosen"]["summary"]
    # --log-models front, killed at models.attaching and resumed: the front's spooled models
    # were attached by the next invocation, each once, no other trial's, and the spool is
    # empty. One front trial may lack its model: the kill at trial.told lost it before the spool.
    front = {p["trial_number"] for p in result["front"]}
    trained = {
        t.number
        for t in study.trials
        if "train_time_s" in t.user_attrs and "duplicate_of" not in t.user_attrs
    }
    with_model = Counter(
        m.source_run_id
        for m in _logged_models(uri, runs[0].info.experiment_id)
        if str(m.status).endswith("READY")
    )
    modelled = {
        int(r.data.tags["slimtune.trial_number"])
        for r in runs
        if r.data.tags.get("slimtune.role") == "trial" and with_model[r.info.run_id]
    }
    assert modelled <= front and len(modelled) >= len(front & trained) - 1, (modelled, front)
    assert max(with_model.values()) == 1
    assert not list((out / "spool").glob("trial-*.keras"))


def test_worker_killed_mid_trial_is_retried(tmp_path, mnist_dir, space_file):
    from optuna.trial import TrialState

    out = tmp_path / "out"
    env, trained = fault_env(tmp_path, pause_s="3")  # a 3-s window inside every task
    args = search_args(
        out, mnist_dir, space_file, 3, "--max-retries", 1, "--epochs", 3, "--train-subset", 3000
    )
    driver = start(args, tmp_path, env, "worker-kill")
    victim = wait_for(
        lambda: next(
            (p for p in descendants(driver.pid) if cmdline(p).startswith("ray::train_task")), None
        ),
        120,
        "a training task",
    )
    wait_for(lambda: trained_by(trained, victim), 60, "the task's record")
    os.kill(victim, signal.SIGKILL)
    assert driver.wait(timeout=300) == 0, (tmp_path / "worker-kill.err").read_text()
    study = load_study(out)
    assert len(completed(study)) == 3
    assert not [t for t in study.trials if t.state == TrialState.FAIL]
    lines = trained.read_text().split("\n")
    killed = {line.split(" ", 2)[2] for line in lines if line.startswith(f"{victim} trial ")}
    assert killed, "the killed worker never recorded its task"
    assert all(trainings(trained)[summary] >= 2 for summary in killed)  # Ray retried it
    assert_one_run_per_trial(study, study_runs(f"sqlite:///{out / 'mlflow.db'}"))


@pytest.mark.parametrize(
    "signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"]
)
def test_signal_stops_cleanly_and_the_next_run_resumes(
    tmp_path, mnist_dir, space_file, signum, code
):
    out = tmp_path / "out"
    env, trained = fault_env(tmp_path)
    args = search_args(out, mnist_dir, space_file, 6, "--train-subset", 3000, "--epochs", 2)
    driver = start(args, tmp_path, env, "signalled")
    log = tmp_path / "signalled.err"
    wait_for(lambda: "] trial " in log.read_text(), 180, "a first finished trial")
    sent = time.monotonic()
    driver.send_signal(signum)
    assert driver.wait(timeout=30) == code, log.read_text()
    assert time.monotonic() - sent <= 10.0
    name = signal.Signals(signum).name
    assert (
        log.read_text().strip().splitlines()[-1]
        == f"slimtune: error: stopped by {name}; run the same command again to resume"
    )
    assert "Traceback" not in log.read_text()
    partial = json.loads((out / "result.json").read_text())
    assert partial["chosen"] is None and partial["message"].startswith("interrupted with")
    study = load_study(out)
    kept = completed(study)
    assert partial["study"]["n_complete"] + partial["study"]["n_pruned"] == len(kept) >= 1
    runs = study_runs(f"sqlite:///{out / 'mlflow.db'}")
    assert_one_run_per_trial(study, runs)
    assert {r.info.status for r in runs if r.data.tags["slimtune.role"] == "study"} == {"KILLED"}
    stopped = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert all(t.user_attrs["fail_reason"] == f"interrupted by {name}" for t in stopped)

    done = run_cli(*args, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    study = load_study(out)
    assert {n: completed(study)[n] for n in kept} == kept
    assert len(completed(study)) == 6
    assert_one_run_per_trial(study, study_runs(f"sqlite:///{out / 'mlflow.db'}"))


def test_nan_and_raising_trials_fail_with_their_reason_and_the_study_goes_on(
    tmp_path, mnist_dir, space_file
):
    from optuna.trial import TrialState

    out = tmp_path / "out"
    env, _ = fault_env(tmp_path, nan_when=r"^c5x2-", raise_when=r"^c3x2-")
    # --no-focus and the random start (whatever the defaults): the faults are keyed to
    # configurations this seed proposes, so all must train.
    done = run_cli(
        *search_args(
            out,
            mnist_dir,
            space_file,
            6,
            "--sampler",
            "random",
            "--seed",
            3,
            "--no-focus",
            "--initial-design",
            "random",
        ),
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    study = load_study(out)
    assert len(completed(study)) == 6
    reasons = [t.user_attrs["fail_reason"] for t in study.trials if t.state == TrialState.FAIL]
    assert any("TrainingFailed: loss became nan" in r for r in reasons), reasons
    assert any("InjectedFault: injected fault for c3x" in r for r in reasons), reasons
    runs = study_runs(f"sqlite:///{out / 'mlflow.db'}")
    assert_one_run_per_trial(study, runs)
    failed_runs = [r for r in runs if r.data.tags.get("slimtune.state") == "FAIL"]
    assert failed_runs and all(r.info.status == "FAILED" for r in failed_runs)
    assert sorted(r.data.tags["slimtune.reason"] for r in failed_runs) == sorted(reasons)


def test_unreachable_tracking_server_is_refused_within_10_s(tmp_path, mnist_dir, space_file):
    with socketless_port() as port:
        uri = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        done = run_cli(
            *search_args(tmp_path / "out", mnist_dir, space_file, 2),
            env={"MLFLOW_TRACKING_URI": uri},
            timeout=60,
        )
    assert time.monotonic() - started <= 10.0
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"slimtune: error: --tracking-uri {uri}: the MLflow server does not answer; start it "
        "(mlflow server ...) or point --tracking-uri / MLFLOW_TRACKING_URI at a running one"
    ]
    assert not (tmp_path / "out" / "optuna.db").exists()


class socketless_port:
    """A loopback port nothing listens on, for as long as the block runs."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def start_mlflow_server(tmp_path: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    from support.services import wait_for_health

    wait_for_health(f"http://127.0.0.1:{port}", 180, server)
    return server


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_mlflow_server_lost_mid_study_then_synced_and_no_credentials_leak(
    tmp_path, mnist_dir, space_file
):
    with socketless_port() as port:
        pass
    uri = f"http://127.0.0.1:{port}"
    secret = "s3cr3t-pw-9f2c"
    env, _ = fault_env(tmp_path)
    env |= {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_TRACKING_USERNAME": "alice",
        "MLFLOW_TRACKING_PASSWORD": secret,
    }
    out = tmp_path / "out"
    args = search_args(out, mnist_dir, space_file, 6, "--train-subset", 2000, "--epochs", 2)
    server = start_mlflow_server(tmp_path, port)
    try:
        driver = start(args, tmp_path, env, "lost")
        log = tmp_path / "lost.err"
        wait_for(lambda: "] trial " in log.read_text(), 180, "a first logged trial")
        stop(server)
        assert driver.wait(timeout=600) == 0, log.read_text()
        assert "is unreachable; the study goes on" in log.read_text()
        first = json.loads((out / "result.json").read_text())
        assert first["study"]["n_complete"] + first["study"]["n_pruned"] == 6
        assert "was unreachable" in first["message"]
        assert first["mlflow"]["registered_model_version"] is None
        assert list((out / "spool").glob("*.keras")), "models must wait in the spool"

        server = start_mlflow_server(tmp_path, port)
        done = run_cli(*args, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        study = load_study(out)
        runs = study_runs(uri)
        assert_one_run_per_trial(study, runs)
        result = json.loads((out / "result.json").read_text())
        # --log-models front: the front's spooled models arrived, attached to their runs once
        # MLflow answered; no other trial run has one
        front = {p["trial_number"] for p in result["front"]}
        trained = {
            t.number
            for t in study.trials
            if "train_time_s" in t.user_attrs and "duplicate_of" not in t.user_attrs
        }
        with_model = {
            m.source_run_id
            for m in _logged_models(uri, runs[0].info.experiment_id)
            if str(m.status) in ("READY", "LoggedModelStatus.READY")
        }
        assert {
            int(r.data.tags["slimtune.trial_number"])
            for r in runs
            if r.data.tags.get("slimtune.role") == "trial" and r.info.run_id in with_model
        } == front & trained
        if result["chosen"] is not None:
            assert result["mlflow"]["registered_model_version"] is not None
        assert not list((out / "spool").glob("*.keras"))
        texts = [done.stdout, done.stderr, log.read_text()]
        texts += [p.read_text(errors="replace") for p in out.rglob("*.json")]
        texts += [json.dumps([r.data.params, r.data.tags]) for r in runs]
        assert not [t for t in texts if secret in t], "the MLflow password leaked"
    finally:
        stop(server)


def _logged_models(uri: str, experiment_id: str) -> list:
    import mlflow

    return list(mlflow.MlflowClient(uri).search_logged_models([experiment_id], max_results=1000))


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs, so a run can really fill its disk (needs root, as in CI); a finished run
    writes ~6 MB (models, figures, the interactive front with plotly.js inline)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave_bytes: int) -> Path:
    """Fill the file system of `folder`, then free `leave_bytes`."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave_bytes))
    return filler


def test_disk_full_during_a_run_keeps_state_whole(tmp_path, mnist_dir, space_file, small_disk):
    out = small_disk / "out"
    # Every trial trains and keeps its model (no early stopping), so the run must write models.
    elsewhere = [
        "--storage",
        f"sqlite:///{tmp_path / 'optuna.db'}",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--no-early-stopping",
    ]
    args = search_args(out, mnist_dir, space_file, 2, *elsewhere)
    done = run_cli(*args, timeout=600)
    assert done.returncode == 0, done.stderr
    before = (out / "result.json").read_bytes()
    filler = fill(small_disk, leave_bytes=4096)
    more = search_args(out, mnist_dir, space_file, 5, *elsewhere)
    done = run_cli(*more, timeout=600)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert (
        lines[-1].startswith("slimtune: error: cannot write ")
        and "No space left on device; free space" in lines[-1]
    ), lines[-1]
    assert (out / "result.json").read_bytes() == before  # never half written
    assert not [p for p in out.rglob("*.tmp")], "a temp file was left behind"
    filler.unlink()
    done = run_cli(*more, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == 5
