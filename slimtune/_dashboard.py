"""`slimtune dashboard`: optuna-dashboard on a search's study storage, reachable from this machine
only. Registered on the app in slimtune/cli.py; Optuna and optuna-dashboard are imported inside.

What optuna-dashboard writes (read in its source, optuna_dashboard/_app.py, _note.py,
_preferential_history.py and _rdb_migration.py, version 0.21): showing studies, trials and plots
only
reads the storage. It writes when a person acts in the page: a study or trial note, renaming,
deleting or creating a study, telling or skipping a trial, editing a trial's user attributes, a
preferential study's feedback, and the "Migrate" button of an old schema (an Alembic upgrade).
A SQLite storage must have one writer, the search's driver (the lock in search/study/_open.py), so
SQLite is opened read-only and the dashboard's writing requests (every one that is not GET or HEAD)
are refused with a reason the page shows: watching a running search is safe. PostgreSQL and MySQL
take concurrent writers; there they work as in
optuna-dashboard itself.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import typer

from slimtune.search import UsageError

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

HOST = "127.0.0.1"  # loopback only: the page can change a shared study and has no login


def dashboard(
    out: Annotated[
        Path, typer.Option(help="A search's output folder (its --out); its optuna.db is shown.")
    ] = Path("runs/slimtune"),
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna RDB URL instead of the folder's optuna.db, e.g. postgresql://user@host/db "
            "[default: none]."
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")
    ] = 0,
) -> None:
    """Browse the search's Optuna study in optuna-dashboard, on 127.0.0.1, until Ctrl-C.
    A SQLite storage is opened read-only, so it is safe while the search runs."""
    url = _storage_url(out, storage)
    rdb = _open_storage(url)
    server = _serve(rdb, port)
    host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    read_only = " (read-only)" if rdb.engine.name == "sqlite" else ""
    print(
        f"optuna-dashboard on http://{host}:{bound_port}/dashboard for {_shown(url)}"
        f"{read_only}; Ctrl-C to stop",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (slimtune's handler raises a subclass)
        print("dashboard stopped", file=sys.stderr)
    finally:
        server.server_close()
        rdb.engine.dispose()


def _storage_url(out: Path, storage: str | None) -> str:
    """The storage a search with these --out/--storage flags used (the rule of SearchSettings)."""
    from slimtune.search import SearchSettings

    # from_sources: a password in --storage is refused here as `slimtune search` refuses it.
    flags = {"out": str(out), "storage": storage}
    url = SearchSettings.from_sources(None, flags).resolved().storage
    if storage is None:
        if not out.is_dir():
            raise UsageError(
                f"--out {out}: no such folder; pass the --out of a search, or --storage URL"
            )
        if not (out / "optuna.db").is_file():
            raise UsageError(
                f"--out {out} holds no optuna.db; pass the --out of a search (or "
                "run one there first), or --storage URL"
            )
    return url


def _open_storage(url: str) -> RDBStorage:
    """The storage, SQLite read-only; a storage that cannot be read or holds no study is bad
    input."""
    import optuna
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    engine_kwargs = {}
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_file():  # sqlite would create an empty database: a typo must not
            raise UsageError(
                f"--storage {_shown(url)}: no such SQLite file; pass the storage a search "
                "used, e.g. sqlite:///runs/slimtune/optuna.db"
            )
        uri = f"file:{quote(str(path.absolute()))}?mode=ro"
        # The dashboard serves from several threads; every connection is only ever read.
        engine_kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        rdb = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            skip_compatibility_check=True,
            skip_table_creation=True,
        )
        studies = rdb.get_all_studies()
    except (
        sqlalchemy.exc.SQLAlchemyError,
        optuna.exceptions.StorageInternalError,
        ImportError,
    ) as exc:
        root: BaseException = exc
        while root.__cause__ is not None:  # Optuna and SQLAlchemy wrap the driver's reason
            root = root.__cause__
        reason = (str(root).strip().splitlines() or [type(root).__name__])[0]
        raise UsageError(
            f"--storage {_shown(url)}: cannot read an Optuna study there ({reason}); "
            "pass the storage a search used"
        ) from None
    if not studies:
        raise UsageError(
            f"--storage {_shown(url)} holds no study; run slimtune search with it first"
        )
    return rdb


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a browser's open connection must not delay Ctrl-C


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Only failed requests: the terminal stays readable while a page polls every few
        seconds."""
        if str(code).startswith("5"):
            super().log_request(code, size)


def _serve(rdb: RDBStorage, port: int) -> WSGIServer:
    import optuna_dashboard

    app = optuna_dashboard.wsgi(rdb)
    if rdb.engine.name == "sqlite":
        app = _refuse_writes(app)
    try:
        return make_server(
            HOST, port, app, server_class=_ThreadedServer, handler_class=_QuietHandler
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"--port {port} is in use on {HOST}; pick another, or leave --port "
                "out for a free one"
            ) from None
        raise


def _refuse_writes(app: Callable) -> Callable:
    """`app` answering 403 with a reason to every request that could write the storage; without
    it the read-only database would answer 500 and print a traceback."""
    reason = json.dumps(
        {
            "reason": "slimtune dashboard shows a SQLite storage read-only: the "
            "search is its one writer"
        }
    ).encode()

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            return app(environ, start_response)
        print(
            f"refused {environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}: the SQLite "
            "storage is read-only here",
            file=sys.stderr,
        )
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/json"), ("Content-Length", str(len(reason)))],
        )
        return [reason]

    return guarded


def _shown(url: str) -> str:
    from slimtune.trackers import redact

    return redact(url)
