"""What can be checked of deploy/compose and deploy/k8s without Docker or Kubernetes: the files
parse and pass their schemas, every command they run parses with the real CLI it names
(slimtune, ray start, mlflow server), images and versions match the project, ports stay on
loopback, and secrets live only in ignored files."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from support.cli import ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]  # Ray Serve's pydantic

COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
IMAGE = "slimtune:0.1.0"
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def k8s_documents() -> list[dict]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def command_args(command: list[str] | str) -> list[str]:
    """argv of a compose/k8s command, with ${VAR:-default} replaced by its default."""
    args = shlex.split(command) if isinstance(command, str) else list(command)
    return [DEFAULTED.sub(lambda m: m.group(2), arg) for arg in args]


def parse_with_real_cli(args: list[str]) -> None:
    """Parse `args` with the click command of the program it names; raises on a bad flag."""
    import typer

    from slimtune.cli import app

    program, *rest = args
    if program == "slimtune":
        group = typer.main.get_command(app)
        command = group.commands[rest[0]]
        rest = rest[1:]
    elif program == "ray":
        from ray.scripts.scripts import cli as ray_cli

        command = ray_cli.commands[rest[0]]
        rest = rest[1:]
    elif program == "mlflow":
        from mlflow.cli import cli as mlflow_cli

        command = mlflow_cli.commands[rest[0]]
        rest = rest[1:]
    else:
        raise AssertionError(f"unexpected program {program!r}")
    command.make_context(program, rest, resilient_parsing=False)


def test_compose_file_passes_the_compose_spec_schema():
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_commands_parse_with_the_programs_they_run():
    services = compose()["services"]
    assert {"postgres", "mlflow", "ray-head", "ray-worker"} <= set(services)
    for name in ("mlflow", "ray-head", "ray-worker"):
        parse_with_real_cli(command_args(services[name]["command"]))
        assert DEFAULTED.sub(lambda m: m.group(2), services[name]["image"]) == IMAGE
    head = command_args(services["ray-head"]["command"])
    assert "--head" in head and "--block" in head
    worker = command_args(services["ray-worker"]["command"])
    assert "--address=ray-head:6379" in worker


def test_compose_publishes_ports_on_loopback_only_and_keeps_secrets_out_of_git():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (COMPOSE.parent / ".env.example").read_text()
    assert required <= set(re.findall(r"^(\w+)=", example, re.M))
    assert "RAY_AUTH_MODE: token" in text
    ignored = subprocess.run(
        ["git", "check-ignore", "deploy/compose/.env", "deploy/k8s/secrets.env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == ["deploy/compose/.env", "deploy/k8s/secrets.env"]


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker not installed")
def test_docker_compose_config_resolves_the_stack(tmp_path):
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip("the docker compose plugin is not installed")
    env_file = tmp_path / ".env"
    env_file.write_text((COMPOSE.parent / ".env.example").read_text())
    done = subprocess.run(
        ["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_kubernetes_core_objects_pass_the_kubernetes_schema():
    import kubernetes_validate

    core = [d for d in k8s_documents() if not d["apiVersion"].startswith("ray.io/")]
    assert {d["kind"] for d in core} == {"Deployment", "Service", "PersistentVolumeClaim"}
    for doc in core:
        kubernetes_validate.validate(doc, "1.33.0", strict=True)


def test_kuberay_manifests_run_the_project_image_and_commands():
    import ray

    docs = {d["kind"]: d for d in k8s_documents()}
    cluster, job = docs["RayCluster"], docs["RayJob"]
    assert cluster["apiVersion"] == job["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == ray.__version__
    assert cluster["spec"]["authOptions"]["mode"] == "token"
    pods = [cluster["spec"]["headGroupSpec"]["template"]] + [
        group["template"] for group in cluster["spec"]["workerGroupSpecs"]
    ]
    images = {c["image"] for pod in pods for c in pod["spec"]["containers"]}
    mlflow_images = {
        c["image"] for c in docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    }
    assert images == mlflow_images == {IMAGE}
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    entrypoint = command_args(job["spec"]["entrypoint"])
    parse_with_real_cli(entrypoint)
    assert entrypoint[:2] == ["slimtune", "search"] and "--ray-address" in entrypoint
    mlflow_args = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"]
    parse_with_real_cli(mlflow_args)
    for secret in ("postgres-password",):
        assert secret in (K8S / "secrets.env.example").read_text()


def test_dockerfile_installs_every_package_of_the_project():
    text = DOCKERFILE.read_text()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    for package in {name.split(".")[0] for name in packages}:  # a folder brings its subpackages
        assert re.search(rf"^COPY {package} {package}$", text, re.M), package
    assert "pip install ." in text and "USER slimtune" in text
    python = re.search(r"^FROM python:(\d+\.\d+)", text, re.M).group(1)
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"
