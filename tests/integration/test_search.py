"""A real search: local Ray, Optuna on SQLite, MLflow on SQLite and behind a real `mlflow
server`."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import matplotlib.image
import numpy as np
import optuna
import pytest

from support.browser import dump_dom, dump_dom_and_screenshot, screenshot
from support.cli import run_cli

pytestmark = pytest.mark.integration

FLOOR = 0.5
TRIALS = 5


def search_args(out: Path, mnist_dir: Path, space: Path, *extra: str) -> list[str]:
    return [
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space,
        "--trials",
        TRIALS,
        "--epochs",
        1,
        "--train-subset",
        2000,
        "--seeds",
        2,
        "--workers",
        2,
        "--min-accuracy",
        FLOOR,
        "--learning-rate",
        0.01,
        "--out",
        out,
        "--study-name",
        "itest",
        *extra,
    ]


@pytest.fixture(scope="module")
def first_search(tmp_path_factory, mnist_dir, space_file):
    out = tmp_path_factory.mktemp("search")
    started = time.monotonic()
    # No trial model: the champion is registered from its confirmation run's own model.
    done = run_cli(*search_args(out, mnist_dir, space_file, "--log-models", "confirmed"))
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done, time.monotonic() - started


def trial_runs(client, experiment_id: str) -> list:
    return client.search_runs([experiment_id], "tags.`slimtune.role` = 'trial'", max_results=1000)


def models_of(client, experiment_id: str) -> list:
    """The experiment's READY logged models."""
    return [
        m
        for m in client.search_logged_models([experiment_id], max_results=1000)
        if str(m.status).endswith("READY")
    ]


def test_result_json_holds_the_contract(first_search):
    out, done, _ = first_search
    result = json.loads((out / "result.json").read_text())
    assert result["study"]["name"] == "itest"
    assert result["study"]["storage"] == f"sqlite:///{out / 'optuna.db'}"
    assert result["study"]["n_complete"] + result["study"]["n_pruned"] == TRIALS
    assert result["floor"] == FLOOR
    chosen = result["chosen"]
    assert chosen is not None, result["message"]
    assert set(chosen["footprint"]) == {
        "params",
        "weight_bytes_fp32",
        "weight_bytes_int8",
        "peak_activation_bytes_fp32",
        "peak_activation_bytes_int8",
        "tflite_file_bytes",
        "tflm_arena_bytes",
        "macs",
    }
    assert len(chosen["test_accuracies"]) == len(chosen["val_accuracies"]) == 2
    assert chosen["worst_case_test_accuracy"] == min(chosen["test_accuracies"]) >= FLOOR
    assert set(chosen["seeds"]).isdisjoint(chosen["search_seeds"])  # fresh seeds
    selection = result["selection"]
    # the floor plus 1.645 binomial standard errors on the 5,000 validation / recheck images
    margin = 1.645 * (FLOOR * (1 - FLOOR) / 5000) ** 0.5
    assert selection["validation_floor"] == pytest.approx(FLOOR + margin, abs=1e-4)
    assert selection["recheck_floor"] == pytest.approx(FLOOR + margin, abs=1e-4)
    assert selection["strategy"] == "smallest" and selection["recheck_size"] == 5000
    assert (selection["epochs"], selection["full_epochs"]) == (1, 4)
    assert selection["promotion_error_ratio"] == 1.5
    assert min(chosen["search_val_accuracies"]) >= selection["validation_floor"]
    assert min(chosen["recheck_accuracies"]) >= selection["recheck_floor"]
    assert result["front"] and all(p["params"] > 0 for p in result["front"])
    sizes = [p["params"] for p in result["front"]]
    assert sizes == sorted(sizes)
    # Anything feasible and smaller than the choice was rechecked first and failed there; the
    # test split was read for the pick only.
    *rejected, pick = result["confirmations"]
    assert pick["trial_number"] == chosen["trial_number"] and pick["recheck_passed"]
    assert pick["passed"] and pick["test_accuracies"] == chosen["test_accuracies"]
    assert all(not c["recheck_passed"] and c["test_accuracies"] == [] for c in rejected)
    assert all(
        p["trial_number"] in {c["trial_number"] for c in rejected}
        for p in result["front"]
        if p["feasible"] and p["params"] < chosen["footprint"]["params"]
    )
    assert len(result["confirmations"]) <= 3
    assert result["baseline"]["footprint"]["params"] == 3_274_634
    assert result["baseline"]["reduction"]["params"] == pytest.approx(
        3_274_634 / chosen["footprint"]["params"]
    )
    assert result["mlflow"]["registered_model_name"] == "slimtune-mnist"
    assert "reduction" in done.stdout and "worst-case test acc" in done.stdout
    # Judged as int8 by default: each seed's int8 file cleared the floors too.
    assert chosen["judge"] == "int8" and len(chosen["int8_test_accuracies"]) == 2
    assert chosen["worst_case_int8_test_accuracy"] == min(chosen["int8_test_accuracies"]) >= FLOOR
    assert min(chosen["int8_recheck_accuracies"]) >= selection["recheck_floor"]
    assert pick["int8_test_accuracies"] == chosen["int8_test_accuracies"]
    assert all(len(c["int8_recheck_accuracies"]) == 2 for c in result["confirmations"])
    assert "as the int8 file" in done.stdout and chosen["registered_seed"] in chosen["seeds"]


def test_mlflow_has_one_child_run_per_trial_and_a_champion(first_search):
    import mlflow
    import optuna

    out, done, _ = first_search
    result = json.loads((out / "result.json").read_text())
    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("itest")
    runs = trial_runs(client, experiment.experiment_id)
    numbers = [int(r.data.tags["slimtune.trial_number"]) for r in runs]
    study = optuna.load_study(study_name="itest", storage=f"sqlite:///{out / 'optuna.db'}")
    assert sorted(numbers) == [t.number for t in study.trials]
    parent = result["mlflow"]["parent_run_id"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in runs)
    for run in runs:
        assert run.info.status in ("FINISHED", "FAILED")
        assert {"kernel_size_0", "filters_0", "head"} <= set(run.data.params)
        if run.data.tags["slimtune.state"] == "COMPLETE":
            assert "worst_case_val_accuracy" in run.data.metrics and "params" in run.data.metrics
    version = client.get_model_version_by_alias("slimtune-mnist", "champion")
    assert version.version == result["mlflow"]["registered_model_version"]
    assert version.run_id == result["mlflow"]["confirmation_run_id"]
    # --log-models confirmed: the confirmation's model is the only one logged
    assert [m.source_run_id for m in models_of(client, experiment.experiment_id)] == [
        version.run_id
    ]
    assert not list((out / "spool").glob("trial-*.keras"))
    assert version.tags["floor"] == str(FLOOR)
    assert int(version.tags["params"]) == result["chosen"]["footprint"]["params"]
    # Registered by the logged model's own URI (no MLflow warning), with a model card.
    assert version.source.startswith("models:/m-")
    assert "has no artifacts at artifact path" not in done.stderr
    assert f"`{result['chosen']['summary']}`" in version.description
    assert "4 epochs" in version.description and "test split, read once" in version.description
    assert "test split as the int8 file" in version.description
    assert float(version.tags["worst_case_int8_test_accuracy"]) == pytest.approx(
        result["chosen"]["worst_case_int8_test_accuracy"], abs=1e-6
    )
    metrics = client.get_run(version.run_id).data.metrics
    assert metrics["worst_case_int8_test_accuracy"] == pytest.approx(
        result["chosen"]["worst_case_int8_test_accuracy"]
    )
    assert "worst_case_int8_recheck_accuracy" in metrics
    assert re.search(
        r"data \(content digests.*training `[0-9a-f]{16}`, validation `[0-9a-f]{16}`",
        version.description,
    ), version.description
    # The champion was confirmed (and trained) with the full recipe: 4 x --epochs 1.
    assert client.get_run(version.run_id).data.params["epochs"] == "4"


def test_champion_loads_from_the_registry_and_predicts(first_search, mnist_dir):
    import mlflow

    from slimtune.search._data import resolve

    out, _, _ = first_search
    result = json.loads((out / "result.json").read_text())
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    model = mlflow.keras.load_model("models:/slimtune-mnist@champion")
    assert model.count_params() == result["chosen"]["footprint"]["params"]
    test = resolve("mnist", mnist_dir).test()
    predictions = model.predict(test.x[:2000].astype(np.float32) / 255.0, verbose=0)
    accuracy = float(np.mean(predictions.argmax(axis=1) == test.y[:2000]))
    assert accuracy >= FLOOR - 0.1  # the median-seed model; 2,000 of the 10,000 test images


def test_report_and_pareto_html_render_in_chromium(first_search, tmp_path):
    """The user's view: `slimtune report` and the parent run's interactive Pareto front, opened
    from disk in real headless Chromium: plotly drew its SVG, the pick is named, the page is not
    blank. SLIMTUNE_SCREENSHOTS=DIR keeps the report's screenshot (README's picture)."""
    import mlflow

    out, _, _ = first_search
    result = json.loads((out / "result.json").read_text())
    pick = result["chosen"]["summary"]
    page = tmp_path / "report.html"
    done = run_cli("report", page, "--out", out)
    assert done.returncode == 0, done.stderr
    assert f"report: {page}" in done.stdout
    dom = dump_dom(page)
    assert 'class="main-svg"' in dom and 'id="pareto-front"' in dom  # plotly drew it
    assert f"pick: {pick}" in dom and 'id="card"' in dom and pick in dom
    assert dom.count('<img alt="figure" src="data:image/png;base64,') == 3
    assert f"{result['chosen']['worst_case_test_accuracy']:.4f}" in dom
    shot = screenshot(page, tmp_path / "report.png")
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1100) and pixels.std() > 0.05  # drawn, not blank
    assert (pixels.min(axis=2) < 0.5).mean() > 0.01  # dark ink: text and lines
    if os.environ.get("SLIMTUNE_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["SLIMTUNE_SCREENSHOTS"]) / "report.png")

    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    pareto = Path(
        client.download_artifacts(
            result["mlflow"]["parent_run_id"], "pareto_front.html", str(tmp_path)
        )
    )
    dom = dump_dom(pareto)
    assert 'class="main-svg"' in dom and f"pick: {pick}" in dom
    assert 'class="scatterlayer' in dom and "floor 0.5" in dom


def test_progress_without_a_terminal_is_plain_lines(first_search):
    """stderr to a pipe (Ray Job logs, CI): one plain line per trial with the totals, no live bar
    and no terminal control sequences (tests/integration/test_progress_bar.py has the bar)."""
    _, done, _ = first_search
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    assert f"trials {TRIALS}/{TRIALS}" not in done.stderr and "ETA" not in done.stderr
    lines = re.findall(
        rf"^\[\d/{TRIALS}\] trial \d+ .*\| failed \d+, feasible \d+, smallest "
        r"feasible .* \| \d+s$",
        done.stderr,
        re.MULTILINE,
    )
    assert lines, done.stderr
    assert re.search(r"^trials finished in \d+s$", done.stderr, re.MULTILINE)


def test_second_invocation_resumes_without_retraining(first_search, mnist_dir, space_file):
    import mlflow

    out, _, _ = first_search
    before = json.loads((out / "result.json").read_text())
    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment_id = client.get_experiment_by_name("itest").experiment_id
    runs_before = client.search_runs([experiment_id], max_results=1000)
    done = run_cli(*search_args(out, mnist_dir, space_file))
    assert done.returncode == 0, done.stderr
    assert f"{TRIALS} already finished, not retrained" in done.stderr
    assert "confirming" not in done.stderr
    after = json.loads((out / "result.json").read_text())
    assert after["chosen"] == before["chosen"]
    assert (
        after["mlflow"]["registered_model_version"] == before["mlflow"]["registered_model_version"]
    )
    runs_after = client.search_runs([experiment_id], max_results=1000)
    new = {r.info.run_id for r in runs_after} - {r.info.run_id for r in runs_before}
    assert len(new) == 1  # only the new parent run
    # A higher floor on the same study re-analyses without training: nothing qualifies.
    done = run_cli(
        *search_args(out, mnist_dir, space_file)[:-4],
        "--min-accuracy",
        "0.9999",
        "--out",
        out,
        "--study-name",
        "itest",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["chosen"] is None
    assert "no configuration met the floor 0.9999" in result["message"]
    assert "best worst-case validation accuracy reached" in result["message"]
    assert "best worst case per size band (params) " in result["message"]  # how close it came
    assert "\n" not in result["message"] and result["mlflow"]["registered_model_version"] is None


def test_timeout_stops_asking_but_finishes_confirms_and_resumes(tmp_path, mnist_dir, space_file):
    """--timeout is Optuna's, counted from the invocation's start: each worker gets a trial, no
    trial starts after it (less the time kept to finish and confirm), running ones finish, the
    study is analysed and confirmed as usual, and the same command continues where it stopped."""
    args = [
        *search_args(tmp_path, mnist_dir, space_file)[:-2],
        "--study-name",
        "timeout",
        "--trials",
        50,
        "--timeout",
        1,
    ]  # the later --trials wins
    runs, finished_trials = [], []
    for _ in range(2):
        done = run_cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "--timeout 1s: no new trials" in done.stderr
        runs.append(json.loads((tmp_path / "result.json").read_text()))
        study = optuna.load_study(
            study_name="timeout", storage=f"sqlite:///{tmp_path / 'optuna.db'}"
        )
        finished_trials.append(
            {
                t.number: (t.state, t.values, t.datetime_complete)
                for t in study.trials
                if t.state.is_finished()
            }
        )
    first, second = (r["study"]["n_complete"] + r["study"]["n_pruned"] for r in runs)
    assert 1 <= first < second < 50, (first, second)
    assert f"--timeout 1s reached with {first} of 50 trials finished" in runs[0]["message"]
    assert f"--timeout 1s reached with {second} of 50 trials finished" in runs[1]["message"]
    feasible = [t for t in study.trials if t.values and t.values[0] >= FLOOR]
    assert bool(runs[1]["confirmations"]) == bool(feasible), runs[1]["message"]  # as usual
    assert all(finished_trials[1][n] == v for n, v in finished_trials[0].items())


def test_resume_on_changed_data_is_refused_and_the_study_untouched(
    first_search, mnist_dir, space_file, tmp_path
):
    """The same flags on a copy of MNIST with one validation label changed."""
    import gzip

    from slimtune.search._data import mixed_order

    out, _, _ = first_search
    changed = tmp_path / "mnist"
    changed.mkdir()
    for name in (
        "train-images-idx3-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        (changed / name).symlink_to(mnist_dir / name)
    labels = bytearray(gzip.decompress((mnist_dir / "train-labels-idx1-ubyte.gz").read_bytes()))
    last = 8 + int(mixed_order(60_000)[-1])  # the last validation image (8-byte IDX header)
    labels[last] = (labels[last] + 1) % 10
    (changed / "train-labels-idx1-ubyte").write_bytes(bytes(labels))
    before = {name: (out / name).read_bytes() for name in ("optuna.db", "mlflow.db")}
    done = run_cli(*search_args(out, changed, space_file))
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert (
        line.startswith("slimtune: error: study 'itest' in sqlite:")
        and "was created on other data (content digests validation " in line
        and "point --dataset/--data-dir at the files it was created with" in line
    ), line
    assert {name: (out / name).read_bytes() for name in before} == before


@pytest.fixture
def mlflow_server(tmp_path):
    from support.services import mlflow_server as real_mlflow_server

    with real_mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts") as uri:
        yield uri


def test_search_against_a_real_mlflow_server(tmp_path, mnist_dir, space_file, mlflow_server):
    import mlflow

    out = tmp_path / "out"
    # Two epochs at a constant learning rate: validation after each epoch, so each trial run has
    # a curve for the MLflow UI to draw (under cosine only the last epoch is measured); the
    # confirmation keeps the full recipe's 4 epochs.
    done = run_cli(
        "search",
        "--data-dir",
        mnist_dir,
        "--space",
        space_file,
        "--trials",
        3,
        "--epochs",
        2,
        "--full-epochs",
        4,
        "--schedule",
        "constant",
        "--train-subset",
        1000,
        "--seeds",
        1,
        "--workers",
        2,
        "--learning-rate",
        0.01,
        "--min-accuracy",
        0.2,
        "--out",
        out,
        "--study-name",
        "served",
        "--model-name",
        "served-model",
        env={"MLFLOW_TRACKING_URI": mlflow_server},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["mlflow"]["tracking_uri"] == mlflow_server
    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("served")
    runs = trial_runs(client, experiment.experiment_id)
    assert len(runs) == 3
    # The parent run tells the result: result.json, the trials table and the figures.
    parent = result["mlflow"]["parent_run_id"]
    assert {a.path for a in client.list_artifacts(parent)} == {
        "result.json",
        "trials.csv",
        "pareto_front.png",
        "pareto_front.html",
        "kernel_slicing.png",
        "progress.png",
    }
    local = Path(client.download_artifacts(parent, "", str(tmp_path / "parent")))
    assert json.loads((local / "result.json").read_text()) == result
    trials = (local / "trials.csv").read_text().splitlines()
    assert trials[0].startswith("number,state,summary,") and len(trials) == 1 + 3
    assert (local / "progress.png").read_bytes()[:4] == b"\x89PNG"
    assert client.get_run(parent).info.status == "FINISHED"
    assert not (out / "mlflow.db").exists()
    assert result["chosen"] is not None, result["message"]
    version = client.get_model_version_by_alias("served-model", "champion")
    assert version.run_id == result["mlflow"]["confirmation_run_id"]
    check_front_models(client, experiment.experiment_id, result, runs, out)
    check_records(client, experiment.experiment_id, result, runs, mnist_dir)
    check_compare_view(mlflow_server, experiment.experiment_id, runs, tmp_path)
    # `slimtune pull` writes what it measured back to the version it pulled.
    target = tmp_path / "served.tflite"
    done = run_cli(
        "pull",
        "models:/served-model@champion",
        "--format",
        "tflite",
        "--out",
        target,
        "--data-dir",
        mnist_dir,
        env={"MLFLOW_TRACKING_URI": mlflow_server},
    )
    assert done.returncode == 0, done.stderr
    tags = client.get_model_version("served-model", version.version).tags
    assert int(tags["pull.tflite.file_bytes"]) == target.stat().st_size
    assert float(tags["pull.tflite.exported_accuracy"]) >= 0.2
    assert tags["pull.tflite.passed"] == "true" and tags["pull.tflite.test_images"] == "10000"
    assert abs(float(tags["pull.tflite.drop"])) <= 0.002
    pull_run = client.get_run(tags["pull.tflite.run_id"])
    assert pull_run.data.tags["slimtune.model_version"] == f"served-model/{version.version}"
    assert pull_run.data.metrics["file_bytes"] == target.stat().st_size
    assert [f"models:/{m.model_id}" for m in pull_run.inputs.model_inputs] == [version.source]
    assert {d.dataset.name for d in pull_run.inputs.dataset_inputs} == {"mnist-test"}
    (exported,) = client.list_artifacts(pull_run.info.run_id, "export")
    assert (exported.path, exported.file_size) == ("export/served.tflite", target.stat().st_size)


# The MLflow Assistant panel opens by itself on a UI served from 127.0.0.1 and fills the right
# ASSISTANT_PANEL_PX of the window; README's picture leaves it out.
ASSISTANT_PANEL_PX = 360


def check_compare_view(server: str, experiment_id: str, runs: list, tmp_path: Path) -> None:
    """The MLflow UI, served by the real server, in headless Chromium: the compare view's plot of
    one seed's validation accuracy after every epoch, one curve per trial run (the page the
    compare view's metric links open). SLIMTUNE_SCREENSHOTS=DIR keeps its screenshot."""
    (key,) = {
        k for run in runs for k in run.data.metrics if k.startswith("epoch_val_accuracy_seed_")
    }  # --seeds 1: one curve per run
    curves = [run for run in runs if key in run.data.metrics]
    assert len(curves) >= 2, [run.data.metrics for run in runs]

    def listed(value) -> str:
        return quote(json.dumps(value, separators=(",", ":")))

    ids = [run.info.run_id for run in curves]
    page = (
        f"{server}/#/metric?runs={listed(ids)}&experiments={listed([experiment_id])}"
        f"&metric={listed(key)}&plot_metric_keys={listed([key])}&x_axis=step&show_point=true"
    )
    dom = dump_dom_and_screenshot(page, tmp_path / "mlflow_compare.png", 1400, 760)
    assert f"Comparing {len(curves)} Runs from 1 Experiment" in dom, dom[-3000:]
    assert 'class="main-svg"' in dom and dom.count('class="trace scatter') >= len(curves)
    for run in curves:  # the plot's legend names each run's curve
        assert f"{run.info.run_name} ({key})" in dom, run.info.run_name
    pixels = matplotlib.image.imread(tmp_path / "mlflow_compare.png")[:, :-ASSISTANT_PANEL_PX, :3]
    assert pixels.shape[:2] == (760, 1400 - ASSISTANT_PANEL_PX) and pixels.std() > 0.05
    assert (pixels.min(axis=2) < 0.5).mean() > 0.01  # dark ink: text, axes, curves
    if os.environ.get("SLIMTUNE_SCREENSHOTS"):
        matplotlib.image.imsave(
            Path(os.environ["SLIMTUNE_SCREENSHOTS"]) / "mlflow_compare.png",
            np.ascontiguousarray(pixels),
        )


def check_front_models(client, experiment_id: str, result: dict, runs: list, out: Path) -> None:
    """--log-models front (the default): the runs of the front's trials that trained hold their
    model, attached when the search ended; the other trial runs hold none, and nothing is left
    in the spool."""
    study = optuna.load_study(study_name="served", storage=f"sqlite:///{out / 'optuna.db'}")
    front = {p["trial_number"] for p in result["front"]}
    trained = {
        t.number
        for t in study.trials
        if "train_time_s" in t.user_attrs and "duplicate_of" not in t.user_attrs
    }
    models = Counter(m.source_run_id for m in models_of(client, experiment_id))
    with_model = {int(r.data.tags["slimtune.trial_number"]) for r in runs if models[r.info.run_id]}
    assert front & trained and with_model == front & trained, (front, trained, with_model)
    assert all(models[r.info.run_id] <= 1 for r in runs)
    assert not list((out / "spool").glob("trial-*.keras"))


def check_records(client, experiment_id: str, result: dict, runs: list, mnist_dir: Path) -> None:
    """What MLflow holds besides params and metrics: each run's datasets with content digests
    (the test split only on the confirmation that read it), each logged model's input example
    and its metrics."""
    import mlflow

    from slimtune.search._data import resolve
    from slimtune.trackers import using_tracking_uri

    source = resolve("mnist", mnist_dir)
    train, val = source.train_val(5000, 1000, holdout=5000)  # as the search above split it
    read = {
        "mnist-training": (train.digest, "training"),
        "mnist-validation": (val.digest, "validation"),
    }

    def inputs(run_id: str) -> dict[str, tuple[str, str]]:
        return {
            d.dataset.name: (d.dataset.digest, d.tags[0].value)
            for d in client.get_run(run_id).inputs.dataset_inputs
        }

    assert inputs(result["mlflow"]["parent_run_id"]) == read
    assert all(inputs(run.info.run_id) == read for run in runs)
    assert inputs(result["mlflow"]["confirmation_run_id"]) == read | {
        "mnist-recheck": (source.recheck(5000, 5000).digest, "recheck"),
        "mnist-test": (source.test().digest, "test"),
    }
    with_model = {m.source_run_id for m in models_of(client, experiment_id)}
    trained = next(r for r in runs if r.info.run_id in with_model)  # a front trial's
    (model,) = client.search_logged_models(
        [experiment_id], filter_string=f"source_run_id = '{trained.info.run_id}'"
    )
    linked = {m.key: m.value for m in model.metrics}
    assert linked["worst_case_val_accuracy"] == trained.data.metrics["worst_case_val_accuracy"]
    assert linked["params"] == trained.data.metrics["params"]
    with using_tracking_uri(client.tracking_uri):
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
    assert info.saved_input_example_info["artifact_path"] == "input_example.json"


def test_focus_trains_only_new_configurations_below_the_smallest_feasible(
    tmp_path, mnist_dir, space_file
):
    out = tmp_path / "focus"
    done = run_cli(
        *search_args(
            out,
            mnist_dir,
            space_file,
            "--focus",
            "--seeds",
            "1",
            "--trials",
            "12",
            "--min-accuracy",
            "0.3",
        )
    )
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="itest", storage=f"sqlite:///{out / 'optuna.db'}")
    result = json.loads((out / "result.json").read_text())
    validation_floor = result["selection"]["validation_floor"]  # what focus counts as feasible
    feasible = [
        t
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE and t.values[0] >= validation_floor
    ]
    trained, seen = [], set()  # with the smallest feasible size known when each was asked
    for trial in sorted(study.trials, key=lambda t: t.number):
        reason = str(trial.user_attrs.get("prune_reason", ""))
        if (
            "footprint" not in trial.user_attrs
            or reason.startswith("out of focus")
            or "duplicate_of" in trial.user_attrs  # a twin's results reused
        ):
            continue  # never trained
        known = [t.values[1] for t in feasible if t.datetime_complete < trial.datetime_start]
        summary = trial.user_attrs["summary"]
        trained.append(
            (
                trial.number,
                trial.user_attrs["footprint"]["params"],
                min(known, default=None),
                summary in seen,
            )
        )
        seen.add(summary)
    focused = [t for t in trained if t[2] is not None]
    assert focused, "focus never had a feasible trial"
    # Each trial was asked knowing every result told before it: none larger, none again.
    assert not [t for t in focused if t[1] >= t[2] or t[3]], trained
