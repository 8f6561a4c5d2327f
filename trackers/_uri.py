"""The MLflow tracking URI every command takes: the one check of what it may hold, the one
redaction used wherever a URI is shown or written, and the one probe of whether its server
answers. Search, pull, train and export-template all read these, so they refuse the same URIs
with the same line."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Stores an MLflow 3 client writes to; its file store ('./mlruns', file://) is in maintenance
# mode and refuses to start, so it is refused here, before anything is created.
TRACKING_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
PROBE_TIMEOUT_S = 3.0
# MLflow's own retry policy, bounded so an outage costs seconds, not minutes (MLflow's defaults
# retry 7 times with backoff 2: a client of a closed port waited 252 s). A user's own
# MLFLOW_HTTP_* settings win.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
UNREACHABLE_FIX = (
    "start it (mlflow server ...) or point --tracking-uri / MLFLOW_TRACKING_URI at a running one"
)


class TrackingUriError(ValueError):
    """A tracking URI that must not be used: it holds a password, names a store MLflow 3 cannot
    write to, or its server does not answer or refuses this process's credentials. The message
    is one line naming the URI (without its password) and the fix (the CLI's exit code 2)."""


def redact(uri: str) -> str:
    """`uri` with its password, if any, replaced by ***: URIs appear in logs, tags, result.json."""
    parts = urlsplit(uri)
    try:
        password = parts.password
    except ValueError:  # a netloc urlsplit cannot take apart (e.g. an unclosed '[')
        return uri
    if not password:
        return uri
    user_info, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user_info.split(':', 1)[0]}:***@{host}"))


def check_tracking_uri(uri: str, flag: str = "--tracking-uri") -> None:
    """TrackingUriError unless `uri` is a store MLflow 3 writes to, without a password in it: a
    password in a URI sits in `ps` output, /proc/*/cmdline, shell history and every message
    that names the URI."""
    if redact(uri) != uri:
        raise TrackingUriError(
            f"{flag} {redact(uri)}: leave the password out of the URI and set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
        )
    scheme = urlsplit(uri).scheme.split("+")[0].lower()
    if scheme not in TRACKING_SCHEMES:
        shown = uri if uri.isprintable() else repr(uri)
        raise TrackingUriError(
            f"{flag} {shown}: use sqlite:///PATH/mlflow.db or an MLflow server's "
            "http(s)://HOST:PORT (MLflow's file store is not supported); MLFLOW_TRACKING_URI "
            "takes the same values"
        )


def bound_http_retries() -> None:
    """Bound MLflow's HTTP retries in this process (HTTP_RETRY_DEFAULTS, unless set)."""
    for key, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(key, value)


def check_tracking_server(uri: str, flag: str = "--tracking-uri") -> None:
    """TrackingUriError when `uri` is an HTTP server that does not answer within PROBE_TIMEOUT_S
    (said as such, instead of MLflow's retries ending minutes later in a misleading error), or
    that refuses this process's credentials. Bounds MLflow's retries for what follows."""
    bound_http_retries()
    if not server_reachable(uri):
        raise TrackingUriError(
            f"{flag} {redact(uri)}: the MLflow server does not answer; {UNREACHABLE_FIX}"
        )
    refusal = credentials_refused(uri)
    if refusal:
        raise TrackingUriError(
            f"{flag} {redact(uri)}: the MLflow server {refusal}; set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD to an account of that server"
        )


def server_reachable(tracking_uri: str) -> bool:
    """True unless `tracking_uri` is an HTTP server that does not answer within a few seconds.

    Any HTTP answer counts (even 401/404): the server is up, and MLflow reports anything else.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return True
    import requests

    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S)
    except requests.RequestException:
        return False
    return True


def server_serving(tracking_uri: str) -> bool:
    """True unless `tracking_uri` is an HTTP server that does not answer, or answers a read of
    its experiments with a server error (HTTP 5xx: its backend store is away, e.g. a PostgreSQL
    restarting under it). A refusal (401/403) counts as serving: MLflow reports that itself."""
    if not tracking_uri.startswith(("http://", "https://")):
        return True
    answer = _read_experiments(tracking_uri)
    return answer is not None and answer.status_code < 500


def _read_experiments(tracking_uri: str) -> Any:
    """The server's answer to a one-experiment search with this process's credentials, or None
    when it does not answer within PROBE_TIMEOUT_S."""
    import requests

    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    try:
        return requests.get(
            tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            timeout=PROBE_TIMEOUT_S,
            auth=(user, password) if user and password else None,
            headers={"Authorization": f"Bearer {token}"} if token and not user else None,
        )
    except requests.RequestException:
        return None


def credentials_refused(tracking_uri: str) -> str | None:
    """Why an HTTP tracking server refuses this process's credentials (MLFLOW_TRACKING_USERNAME
    and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN), e.g. "refused user 'admin' (HTTP
    401)"; None when it lets them read experiments, or is not an HTTP server. One short request,
    so a wrong password is found before anything is created; the password is never shown."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    answer = _read_experiments(tracking_uri)
    if answer is None or answer.status_code not in (401, 403):
        return None  # unreachable is server_reachable's to report
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    who = (
        f"user {user!r}"
        if user
        else "the token in MLFLOW_TRACKING_TOKEN"
        if token
        else "a client without credentials"
    )
    return f"refused {who} (HTTP {answer.status_code})"
