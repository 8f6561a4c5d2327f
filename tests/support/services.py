"""Real services for integration tests: a PostgreSQL cluster, an `mlflow server`, a multi-node Ray
cluster on 127.0.0.1. Each is a context manager that stops what it started, also on failure, and
only what it started (own ports, own temp folders, own process groups: other Ray and PostgreSQL
instances on the machine are left alone)."""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args[:3]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f}s")


def stop_group(process: subprocess.Popen, grace_s: float = 5) -> None:
    """SIGTERM the process group started with `start_new_session=True`, SIGKILL what is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived their leader
    except ProcessLookupError:
        pass
    process.wait()


# --- PostgreSQL ---------------------------------------------------------------------------------
def postgres_bin_dir() -> Path | None:
    """Folder of pg_ctl/initdb: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name)
    )
    return Path(versions[-1]).parent if versions else None


@dataclass
class Postgres:
    """A running cluster. URLs carry no password: libpq reads it from PGPASSWORD (see `env`)."""

    port: int
    user: str
    password: str
    host: str = "127.0.0.1"
    # How `postgres_server` runs pg_ctl on this cluster (as the user the server runs as), for
    # `stop` and `start`.
    pg_ctl: tuple[str, ...] = field(default=(), repr=False)
    start_args: tuple[str, ...] = field(default=(), repr=False)

    def stop(self) -> None:
        """Stop the server as a restart does (`pg_ctl stop -m fast`: every session is ended,
        open transactions roll back, nothing committed is lost); `start` brings it back on the
        same port with the same data."""
        self._control("-m", "fast", "-w", "-t", "60", "stop")

    def start(self) -> None:
        self._control(*self.start_args)

    def _control(self, *args: str) -> None:
        done = subprocess.run([*self.pg_ctl, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"pg_ctl {args[-1]} failed: {done.stderr[-2000:]}")

    @property
    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password}

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """initdb a throw-away cluster listening on a free 127.0.0.1 port, password auth (scram).

    As root the server runs as the `postgres` system user (PostgreSQL refuses root).
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL not installed: run .ci/setup (apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="slimtune-pg-"))
    pg = Postgres(port=free_port(), user="slimtune", password=secrets.token_urlsafe(16))
    try:
        (base / "pw").write_text(pg.password)
        if as_user:
            shutil.chown(base, "postgres")
            shutil.chown(base / "pw", "postgres")
        base.chmod(0o700)

        def run(*cmd: str) -> None:
            done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
            if done.returncode:
                raise RuntimeError(f"{cmd[0]} failed: {done.stderr[-2000:]}")

        run(
            str(bin_dir / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            pg.user,
            "--auth=scram-sha-256",
            f"--pwfile={base / 'pw'}",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {pg.port} -k {base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        pg.pg_ctl = (*as_user, str(bin_dir / "pg_ctl"), "-D", str(base / "data"))
        pg.start_args = ("-l", str(base / "log"), "-o", options, "-w", "-t", "60", "start")
        pg.start()
        try:
            yield pg
        finally:
            subprocess.run(
                [*pg.pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- MLflow ---------------------------------------------------------------------------------------
def wait_for_health(uri: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Wait until the MLflow server at `uri` answers GET /health with 200. Under load its port
    opens tens of seconds before it serves (35-50 s measured on a loaded 2-core machine), so a
    port check alone lets a test talk to a server that cannot answer yet."""
    import requests

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}")
        try:
            answer = requests.get(uri.rstrip("/") + "/health", timeout=2)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {uri}: /health not OK after {timeout_s:.0f}s ({last})")


def basic_auth_env(folder: Path, admin_password: str) -> dict[str, str]:
    """The environment of an `mlflow server --app-name basic-auth` whose users live in a SQLite
    file in `folder` and whose admin is `admin` / `admin_password` (MLflow 3 ships no default
    admin password: it creates the admin on first start from MLFLOW_AUTH_ADMIN_PASSWORD)."""
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        # the basic-auth app's CSRF protection refuses to start without a fixed key
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }


@contextmanager
def mlflow_server(
    backend_store_uri: str,
    artifacts: Path,
    env: dict[str, str] | None = None,
    app_name: str | None = None,
) -> Iterator[str]:
    """A real `mlflow server` on a free 127.0.0.1 port; yields its http URI. `app_name`
    'basic-auth' makes it ask every request for a user and password (see `basic_auth_env`)."""
    port = free_port()
    log = tempfile.TemporaryFile()
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
            backend_store_uri,
            "--artifacts-destination",
            str(artifacts),
            "--workers",
            "1",
            *(["--app-name", app_name] if app_name else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        try:
            wait_for_health(f"http://127.0.0.1:{port}", 300, server)
        except (RuntimeError, TimeoutError) as exc:
            log.seek(0)
            raise RuntimeError(
                f"mlflow server did not start: {exc}\n{log.read()[-3000:].decode(errors='replace')}"
            ) from None
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(server)
        log.close()


# --- Ray ------------------------------------------------------------------------------------------
@dataclass
class RayCluster:
    """A Ray cluster of `ray start --block` processes on 127.0.0.1, each its own process group."""

    address: str  # HOST:PORT of the head's GCS, for --ray-address
    dashboard_url: str | None  # http://127.0.0.1:PORT (Jobs API) when the dashboard is on
    env: dict[str, str]  # token auth settings every client must use
    processes: list[subprocess.Popen] = field(default_factory=list)


def ray_token_env() -> dict[str, str]:
    """One token, token mode, for every `ray start` and every driver of a cluster."""
    return {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def _fresh_port(taken: set[int]) -> int:
    """A free port not in `taken`, added to it."""
    port = free_port()
    while port in taken:
        port = free_port()
    taken.add(port)
    return port


def _ray_ports(node: int, worker_base: int, taken: set[int]) -> list[str]:
    """Ports of node `node` of one cluster. All nodes share 127.0.0.1, and Ray refuses a port
    another node's component holds (seen in the suite: a random worker-port range of the head
    covered a port the second node drew), so the worker-port ranges sit below the kernel's
    ephemeral range (where `free_port` draws), one block of 250 per node, and every drawn port
    is drawn once per cluster (`taken`)."""
    names = (
        "node-manager-port",
        "object-manager-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "runtime-env-agent-port",
        "metrics-export-port",
    )
    args = [f"--{name}={_fresh_port(taken)}" for name in names]
    low = worker_base + 250 * node
    return args + [f"--min-worker-port={low}", f"--max-worker-port={low + 200}"]


@contextmanager
def ray_cluster(
    node_cpus: list[int], dashboard: bool = False, extra_env: dict[str, str] | None = None
) -> Iterator[RayCluster]:
    """Start a head node (`node_cpus[0]` CPUs) and one worker node per further entry.

    Every node gets a custom resource `node_<i>` so tests can tell them apart. Stopped by killing
    the process groups started here: `ray stop` would stop every Ray on the machine.
    """
    env = {**os.environ, **ray_token_env(), **(extra_env or {})}
    # Jobs run `slimtune ...` on the head: the project's console scripts must be on its PATH.
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    port = free_port()
    dashboard_port = free_port()
    taken = {port, dashboard_port}
    # Below the usual ephemeral range (32768-60999), where free_port draws; random per cluster.
    worker_base = 20000 + 1000 * secrets.randbelow(12)
    ray = str(VENV_BIN / "ray")
    logs = []
    with ExitStack() as stack:
        cluster = RayCluster(
            address=f"127.0.0.1:{port}",
            dashboard_url=f"http://127.0.0.1:{dashboard_port}" if dashboard else None,
            env={k: env[k] for k in ray_token_env()},
        )
        for i, cpus in enumerate(node_cpus):
            temp_dir = tempfile.mkdtemp(prefix=f"rt{i}-", dir="/tmp")  # short: socket paths
            stack.callback(shutil.rmtree, temp_dir, True)
            log = stack.enter_context(tempfile.TemporaryFile())
            logs.append(log)
            common = [
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={cpus}",
                f"--resources={json.dumps({f'node_{i}': 1})}",
                f"--temp-dir={temp_dir}",
                "--disable-usage-stats",
                *_ray_ports(i, worker_base, taken),
            ]
            if i == 0:
                args = [
                    ray,
                    "start",
                    "--head",
                    f"--port={port}",
                    f"--ray-client-server-port={_fresh_port(taken)}",
                    f"--include-dashboard={str(dashboard).lower()}",
                    *common,
                ]
                if dashboard:
                    args += ["--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}"]
            else:
                args = [ray, "start", f"--address={cluster.address}", *common]
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=tempfile.gettempdir(),
            )
            cluster.processes.append(process)
            stack.callback(stop_group, process)
            if i == 0:
                wait_for_port(port, 120, process)
        try:
            _wait_for_nodes(cluster, len(node_cpus))
            if dashboard:
                wait_for_port(dashboard_port, 120, cluster.processes[0])
        except (RuntimeError, TimeoutError) as exc:
            text = "\n".join(_tail(log) for log in logs)
            raise RuntimeError(f"Ray cluster did not start: {exc}\n{text}") from None
        yield cluster


def _wait_for_nodes(cluster: RayCluster, count: int, timeout_s: float = 120) -> None:
    """Wait until `count` nodes are alive, asking the GCS from a short-lived subprocess."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, "
        "logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for process in cluster.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a ray start process exited with {process.returncode}")
        done = subprocess.run(
            [sys.executable, "-c", probe, cluster.address],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **cluster.env},
        )
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise TimeoutError(f"fewer than {count} Ray nodes alive after {timeout_s:.0f}s")


def _tail(log) -> str:
    log.seek(0)
    return log.read()[-3000:].decode(errors="replace")
