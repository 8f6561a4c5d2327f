"""A real PostgreSQL (started here on 127.0.0.1) as Optuna storage and as the backend store of a
real `mlflow server`: a search, a resume, two drivers working on one study at once, and the
server restarted mid-study."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter

import pytest

from support.cli import ROOT, SLIMTUNE, run_cli
from support.services import mlflow_server, postgres_bin_dir, postgres_server, ray_cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        postgres_bin_dir() is None and not os.environ.get("CI"),
        reason="PostgreSQL not installed (bash .ci/setup installs it)",
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """PostgreSQL with an `optuna` and an `mlflow` database, and an mlflow server on the latter.
    The password reaches every process only through PGPASSWORD."""
    with postgres_server() as pg, pytest.MonkeyPatch.context() as patch:
        storage = pg.create_database("optuna")
        backend = pg.create_database("mlflow")
        artifacts = tmp_path_factory.mktemp("artifacts")
        patch.setenv("PGPASSWORD", pg.password)  # for the assertions' own Optuna reads
        with mlflow_server(backend, artifacts, env=pg.env) as uri:
            yield {
                "pg": pg,
                "storage": storage,
                "tracking_uri": uri,
                "env": {**pg.env, "MLFLOW_TRACKING_URI": uri},
            }


def args(stack, mnist_dir, space_file, out, study, trials, *extra) -> list:
    return [
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space_file,
        "--trials",
        trials,
        "--epochs",
        1,
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--learning-rate",
        0.01,
        "--min-accuracy",
        0.3,
        "--out",
        out,
        "--study-name",
        study,
        "--storage",
        stack["storage"],
        "--model-name",
        study,
        *extra,
    ]


def runs(client, study: str, role: str) -> list:
    experiment = client.get_experiment_by_name(study)
    return client.search_runs(
        [experiment.experiment_id], f"tags.`slimtune.role` = '{role}'", max_results=1000
    )


@pytest.fixture(scope="module")
def searched(stack, mnist_dir, space_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("pg-search")
    done = run_cli(
        *args(stack, mnist_dir, space_file, out, "pg", 3, "--workers", 2), env=stack["env"]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done


def test_search_on_postgres_and_a_served_mlflow(stack, searched):
    import mlflow
    import optuna

    out, _ = searched
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["storage"] == stack["storage"]
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == 3
    assert result["mlflow"]["tracking_uri"] == stack["tracking_uri"]
    study = optuna.load_study(study_name="pg", storage=stack["storage"])
    assert len(study.trials) == 3
    client = mlflow.MlflowClient(stack["tracking_uri"])
    numbers = sorted(int(r.data.tags["slimtune.trial_number"]) for r in runs(client, "pg", "trial"))
    assert numbers == [0, 1, 2]
    if result["chosen"] is not None:  # the model went to the server's shared artifact root
        version = client.get_model_version_by_alias("pg", "champion")
        assert version.run_id == result["mlflow"]["confirmation_run_id"]
    assert not (out / "optuna.db").exists() and not (out / "mlflow.db").exists()


def test_the_password_never_reaches_logs_tags_params_or_result(stack, searched):
    import mlflow

    out, done = searched
    password = stack["pg"].password
    assert password not in done.stdout + done.stderr
    assert password not in (out / "result.json").read_text()
    client = mlflow.MlflowClient(stack["tracking_uri"])
    experiment = client.get_experiment_by_name("pg")
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        assert password not in json.dumps([run.data.params, run.data.tags])


def test_a_password_in_the_url_is_refused_on_the_command_line_and_kept_in_an_owner_only_toml(
    stack, mnist_dir, space_file, tmp_path
):
    """Users do put passwords in URLs: on the command line (where `ps` and /proc/*/cmdline show
    it) the search is refused before anything is touched; in a study TOML only its owner can
    read, the study runs, and the password is shown nowhere."""
    pg = stack["pg"]
    url = f"postgresql://{pg.user}:{pg.password}@127.0.0.1:{pg.port}/optuna"
    out = tmp_path / "out"
    env = {"PGPASSWORD": "", "MLFLOW_TRACKING_URI": stack["tracking_uri"]}
    common = args(stack, mnist_dir, space_file, out, "pg", 3)[
        :-4
    ]  # without --storage, --model-name
    refused = run_cli(*common, "--storage", url, "--model-name", "pg", env=env)
    assert refused.returncode == 2, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "PGPASSWORD" in refused.stderr
    assert pg.password not in refused.stdout + refused.stderr
    assert not out.exists()
    config = tmp_path / "study.toml"
    config.write_text(f'storage = "{url}"\n')
    config.chmod(0o600)
    done = run_cli(*common, "--config", config, "--model-name", "pg", env=env)
    assert done.returncode == 0, done.stderr
    assert "already finished, not retrained" in done.stderr  # it resumed the study above
    assert pg.password not in done.stdout + done.stderr
    assert pg.password not in (out / "result.json").read_text()


def test_resume_on_postgres_trains_nothing_and_logs_nothing_twice(
    stack, searched, mnist_dir, space_file
):
    import mlflow

    out, _ = searched
    client = mlflow.MlflowClient(stack["tracking_uri"])
    before = len(runs(client, "pg", "trial"))
    done = run_cli(
        *args(stack, mnist_dir, space_file, out, "pg", 3, "--workers", 2), env=stack["env"]
    )
    assert done.returncode == 0, done.stderr
    assert "3 already finished, not retrained" in done.stderr
    assert len(runs(client, "pg", "trial")) == before == 3


def test_two_drivers_on_one_study_never_run_a_trial_twice(stack, mnist_dir, space_file, tmp_path):
    """Both drivers start together on a fresh study and a shared 2-CPU Ray cluster."""
    import mlflow
    import optuna

    trials = 4
    with ray_cluster([2]) as cluster:
        env = {**os.environ, **stack["env"], **cluster.env}
        drivers = [
            subprocess.Popen(
                [
                    *SLIMTUNE,
                    *map(
                        str,
                        args(
                            stack,
                            mnist_dir,
                            space_file,
                            tmp_path / f"d{i}",
                            "duo",
                            trials,
                            "--workers",
                            1,
                            "--ray-address",
                            cluster.address,
                        ),
                    ),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        try:
            outputs = [d.communicate(timeout=600) for d in drivers]
        finally:
            for d in drivers:
                d.kill()
    for d, (stdout, stderr) in zip(drivers, outputs, strict=True):
        assert d.returncode == 0, stdout + stderr
    study = optuna.load_study(study_name="duo", storage=stack["storage"])
    states = [t.state for t in study.trials]
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == trials, states  # no overshoot of --trials
    assert "RUNNING" not in {s.name for s in states}
    owners = {t.user_attrs["driver"] for t in study.trials}
    assert len(owners) == 2  # both drivers asked trials
    client = mlflow.MlflowClient(stack["tracking_uri"])
    numbers = [int(r.data.tags["slimtune.trial_number"]) for r in runs(client, "duo", "trial")]
    assert sorted(numbers) == [t.number for t in study.trials]  # one child run per trial
    # Confirmation and registration happened once; the later driver reused them.
    confirmed = [r.data.tags["slimtune.summary"] for r in runs(client, "duo", "confirmation")]
    assert len(confirmed) == len(set(confirmed))
    results = [json.loads((tmp_path / f"d{i}" / "result.json").read_text()) for i in range(2)]
    assert results[0]["chosen"] == results[1]["chosen"]
    if results[0]["chosen"] is not None:
        assert len(client.search_model_versions("name = 'duo'")) == 1


def test_postgres_restarted_mid_study_is_ridden_out(stack, mnist_dir, space_file, tmp_path):
    """PostgreSQL (the study's storage and the MLflow server's backend store) stops while trials
    train, stays down until the driver has found it away, and starts again. The driver rides it
    out (exit 0); were it to stop instead, that must be one line and exit 5, and the same
    command must finish the study. Either way no trial is lost or trained twice, and each has one
    FINISHED child run. Last in this module: every test above shares this server."""
    import mlflow
    import optuna
    from optuna.trial import TrialState

    pg, study_name, trials = stack["pg"], "restart", 3
    trained, faults = tmp_path / "trained.log", tmp_path / "faults.json"
    faults.write_text(json.dumps({"record_to": str(trained)}))
    out, err = tmp_path / "out", tmp_path / "driver.err"
    command = args(stack, mnist_dir, space_file, out, study_name, trials, "--workers", 2)
    env = {**stack["env"], "SLIMTUNE_FAULTS": str(faults)}
    with open(err, "w") as stderr:
        driver = subprocess.Popen(
            [*SLIMTUNE, *map(str, command)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_for(
            lambda: trained.exists() and " trial " in trained.read_text(),
            300,
            driver,
            err,
            "a first training",
        )
        pg.stop()
        try:  # down until the driver has touched the storage (a tell, an ask or a heartbeat)
            _wait_for(
                lambda: "does not answer" in err.read_text(),
                60,
                driver,
                err,
                "the driver to find the storage away",
            )
        finally:
            pg.start()
        driver.wait(timeout=600)
    finally:
        driver.kill()
        driver.wait()
    log = err.read_text()
    assert "Traceback" not in log, log
    if driver.returncode == 5:  # stopped: one line naming the storage, then the same command
        errors = [line for line in log.splitlines() if line.startswith("slimtune: error:")]
        assert len(errors) == 1 and stack["storage"] in errors[0], log
        assert "run the same command again" in errors[0], log
        resumed = run_cli(*command, env=env)
        assert resumed.returncode == 0, resumed.stderr
    else:
        assert driver.returncode == 0, log
        assert "answers again" in log, log

    study = optuna.load_study(study_name=study_name, storage=stack["storage"])
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == trials, [t.state for t in study.trials]
    assert not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # No configuration trained twice, unless its first training failed and it was queued again.
    failed = Counter(
        t.user_attrs.get("summary") for t in study.trials if t.state == TrialState.FAIL
    )
    trained_once = Counter(
        t.user_attrs["summary"] for t in finished if "duplicate_of" not in t.user_attrs
    )
    lines = [line.split(" ", 2) for line in trained.read_text().splitlines()]
    for summary, count in Counter(s for _, kind, s in lines if kind == "trial").items():
        assert count <= trained_once[summary] + failed[summary], (summary, lines)
    # One child run per trial that started, FINISHED for the finished ones; none RUNNING.
    client = mlflow.MlflowClient(stack["tracking_uri"])
    experiment = client.get_experiment_by_name(study_name)
    every_run = client.search_runs([experiment.experiment_id], max_results=1000)
    assert not [r for r in every_run if r.info.status == "RUNNING"]
    trial_runs = runs(client, study_name, "trial")
    numbers = Counter(int(r.data.tags["slimtune.trial_number"]) for r in trial_runs)
    started = {t.number for t in study.trials if "config" in t.user_attrs}
    assert numbers == Counter(started), (numbers, started)
    assert {
        int(r.data.tags["slimtune.trial_number"]) for r in trial_runs if r.info.status == "FINISHED"
    } == {t.number for t in finished}
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == trials


def _wait_for(predicate, timeout_s: float, process: subprocess.Popen, log, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process.poll() is not None:
            pytest.fail(
                f"the driver exited with {process.returncode} before {what}:\n"
                f"{log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout_s:g} s waiting for {what}:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.1)
