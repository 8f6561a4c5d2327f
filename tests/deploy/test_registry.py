"""What `slimtune pull` agrees to load from a registry: only a plain .keras file, loaded with Keras
safe mode. Registry versions crafted in a real MLflow store (SQLite, in this process): a Lambda
layer, an exported SavedModel, an MLmodel that ships code. Each is refused in one line, exit 2,
with nothing written; a plain model still loads."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from support.cli import run_cli_in_process


def tiny_model(lambda_layer: bool = False):
    import keras

    layers = [keras.Input((28, 28, 1))]
    if lambda_layer:
        layers.append(keras.layers.Lambda(lambda x: x * 1.0))
    layers += [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A SQLite MLflow store holding one registered version per case, logged as a user of
    MLflow's API would (mlflow.keras.log_model), plus one whose MLmodel was edited in the
    artifact store to ship code."""
    import mlflow
    import mlflow.tracking.fluent
    from mlflow.models import infer_signature

    from slimtune.trackers import using_tracking_uri

    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    artifacts = folder / "artifacts"
    with pytest.MonkeyPatch.context() as patch, using_tracking_uri(uri):
        # MLflow's fluent API keeps an active experiment process-wide: it must not outlive this.
        patch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
        patch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        experiment = mlflow.create_experiment("crafted", artifact_location=artifacts.as_uri())
        x = np.zeros((1, 28, 28, 1), np.float32)
        for name, model, exported in [
            ("plain", tiny_model(), False),
            ("lambda", tiny_model(lambda_layer=True), False),
            ("exported", tiny_model(), True),
            ("code", tiny_model(), False),
        ]:
            with mlflow.start_run(experiment_id=experiment):
                mlflow.keras.log_model(
                    model,
                    name="model",
                    registered_model_name=name,
                    save_exported_model=exported,
                    signature=infer_signature(x, model.predict(x, verbose=0)),
                    # Named, not inferred: inferring loads the model again in a subprocess.
                    pip_requirements=["keras", "tensorflow"],
                )
        mlflow.tracking.fluent._active_experiment_id = None
        client = mlflow.MlflowClient(uri)
        source = client.get_model_version_download_uri("code", "1")
    # An artifact store writable by someone else: the version now asks for its code folder on
    # sys.path when MLflow loads it.
    stored = Path(source.removeprefix("file://"))
    conf = yaml.safe_load((stored / "MLmodel").read_text())
    conf["flavors"]["python_function"]["code"] = "code"
    (stored / "MLmodel").write_text(yaml.safe_dump(conf))
    (stored / "code").mkdir()
    (stored / "code" / "evil.py").write_text("raise SystemExit('ran the code')\n")
    return uri


def pull(registry: str, name: str, out: Path) -> tuple[int, str, str]:
    return run_cli_in_process(
        "pull", f"models:/{name}/1", "--format", "keras", "--out", out, "--tracking-uri", registry
    )


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "lambda",
            "refused: it holds Python code (a Lambda layer or a lambda) that Keras safe mode "
            "does not load; register a model built from Keras layers only",
        ),
        (
            "exported",
            "refused: it is an exported TensorFlow SavedModel (MLmodel save_exported_model: "
            "true), which loads without Keras safe mode; register the model as a .keras file",
        ),
        (
            "code",
            "refused: its MLmodel ships code to run when it loads (flavor python_function has "
            "code paths); register the model without code_paths",
        ),
    ],
)
def test_a_version_that_would_run_code_is_refused_in_one_line(registry, tmp_path, name, message):
    code, stdout, stderr = pull(registry, name, tmp_path / "m.keras")
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(f"slimtune: error: model 'models:/{name}/1': {message}"), lines[0]
    assert not (tmp_path / "m.keras").exists()


def test_a_plain_keras_version_is_still_pulled(registry, tmp_path):
    code, stdout, stderr = pull(registry, "plain", tmp_path / "m.keras")
    assert code == 0, stdout + stderr
    assert (tmp_path / "m.keras").is_file()


class FailingRegistry(http.server.BaseHTTPRequestHandler):
    """An MLflow server whose backend store fails: it is up (health, experiments), but every
    registry read answers HTTP 500 as MLflow does, with an error code."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.startswith(("/health", "/api/2.0/mlflow/experiments/search")):
            self._answer(200, {"experiments": []})
        else:
            self._answer(500, {"error_code": "INTERNAL_ERROR", "message": "the store is away"})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_a_registry_that_fails_to_answer_is_not_reported_as_model_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the failure, not its retries
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        code, _, stderr = run_cli_in_process(
            "pull", "models:/m@champion", "--out", tmp_path / "m.tflite", "--tracking-uri", uri
        )
    finally:
        server.shutdown()
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"slimtune: error: model 'models:/m@champion': MLflow at {uri} failed or refused the "
        "look-up (INTERNAL_ERROR: the store is away); check the server and that you may read "
        "the model, then run the same command again"
    ]
