"""The framework's ceilings: what a bare Litestar app does on this machine, beside petition.

- `GET /ceiling`: one handler answering a constant small JSON document (the ceiling of every
  read: count JSON, campaign page).
- `POST /ceiling/sign` (with `--database PATH`): the bare minimum of a durable signing. It parses
  the urlencoded form, takes the HMAC-SHA256 of the email, INSERTs one row into a table with one
  unique index and commits it (stdlib sqlite3, `journal_mode=WAL`, `synchronous=FULL`, as
  petition's SQLite) before answering 303. The commit runs in one writer thread (`--sign-mode
  thread`, the default: the event loop parses the next forms while the disk syncs) or in the
  event loop itself (`--sign-mode direct`).

Served with the options `petition serve` gives each server (one worker, no access log, no Server
header where the server allows it, no proxy headers), so that the difference with petition's own
routes is petition's work:

    .venv/bin/python bench/ceiling_app.py HOST PORT [--server uvicorn|granian]
        [--database PATH] [--sign-mode thread|direct]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import hmac
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Request, get, post
from litestar.response import Redirect

PATH = "/ceiling"
SIGN_PATH = "/ceiling/sign"
# About the size of a count: what a minimal API endpoint would answer.
DOCUMENT = {"count": 123456, "goal": 1000000, "status": "open", "last_signature_at": None}
SERVERS = ("uvicorn", "granian")
SIGN_MODES = ("thread", "direct")
# The factory takes no argument (servers import it by name, granian in a worker process): the
# command line reaches it through these variables.
DATABASE_ENV = "CEILING_DATABASE"
SIGN_MODE_ENV = "CEILING_SIGN_MODE"
_SECRET = b"ceiling-" + b"k" * 40
_SCHEMA = """CREATE TABLE IF NOT EXISTS signatures (
    id INTEGER PRIMARY KEY,
    email_hash TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    created_at REAL NOT NULL
)"""
_INSERT = (
    "INSERT INTO signatures (email_hash, first_name, last_name, created_at) VALUES (?, ?, ?, ?)"
)


@get(PATH)
async def ceiling() -> dict[str, object]:
    return DOCUMENT


class Writer:
    """One sqlite3 connection; each row is committed (and synced) on its own."""

    def __init__(self, path: str, mode: str) -> None:
        # One thread owns the connection in `thread` mode; the loop's thread in `direct` mode.
        self._thread = (
            concurrent.futures.ThreadPoolExecutor(1, "ceiling-writer") if mode == "thread" else None
        )
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(_SCHEMA)
            connection.commit()
            self._connection = connection
        return self._connection

    def _insert(self, row: tuple[str, str, str, float]) -> None:
        connection = self._connect()
        with connection:  # BEGIN (implicit), INSERT, COMMIT
            connection.execute(_INSERT, row)

    async def insert(self, row: tuple[str, str, str, float]) -> None:
        if self._thread is None:
            self._insert(row)
        else:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._insert, row)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()


def create_app() -> Litestar:
    database = os.environ.get(DATABASE_ENV)
    if not database:
        return Litestar(route_handlers=[ceiling], openapi_config=None)
    writer = Writer(database, os.environ.get(SIGN_MODE_ENV, "thread"))

    @post(SIGN_PATH, status_code=303)
    async def sign(request: Request[Any, Any, Any]) -> Redirect:
        form = await request.form()
        email = str(form.get("email", "")).strip().lower()
        digest = hmac.new(_SECRET, email.encode(), hashlib.sha256).hexdigest()
        row = (digest, str(form.get("first_name", "")), str(form.get("last_name", "")), time.time())
        await writer.insert(row)
        return Redirect("/ceiling/thanks", status_code=303)

    return Litestar(route_handlers=[ceiling, sign], openapi_config=None, on_shutdown=[writer.close])


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument("--database", help="SQLite file for POST /ceiling/sign (created)")
    parser.add_argument("--sign-mode", choices=SIGN_MODES, default="thread")
    options = parser.parse_args(argv)
    if options.database:
        os.environ[DATABASE_ENV] = options.database
        os.environ[SIGN_MODE_ENV] = options.sign_mode
    if options.server == "granian":
        serve_granian(options.host, options.port)
    else:
        serve_uvicorn(options.host, options.port)
    return 0


def serve_uvicorn(host: str, port: int) -> None:
    import uvicorn

    # The options of petition.cli._serve; uvicorn picks the same HTTP parser and event loop
    # (httptools and uvloop if installed, else h11 and asyncio) for both apps.
    uvicorn.run(
        "ceiling_app:create_app",  # this file's directory is first on sys.path
        factory=True,
        host=host,
        port=port,
        workers=1,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )


def serve_granian(host: str, port: int) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.server import Server

    # The options of petition.cli._serve (granian sends a Server header whatever it is told).
    Server(
        "ceiling_app:create_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=1,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
        workers_kill_timeout=15,
    ).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
