"""A SQLite driver for SQLAlchemy's async engine that runs statements on the event loop.

aiosqlite hands every call to a thread of its own and waits for the answer: a SQLAlchemy
statement makes four or five such trips, and each costs more CPU than the statement itself
(bench/statement_cost.py: about 250 µs against 20). Inside a transaction that already holds the
write lock, a statement on a local file does not wait for anything — no lock, no network, and
SQLite's own page cache in memory — so it can run where it is called, like a dict lookup.

What can wait is kept off the loop, in one thread of the connection's:
- `BEGIN IMMEDIATE`, which waits for another process's write lock (the busy timeout);
- `COMMIT`, which waits for the disk (`synchronous=FULL`: an fsync);
- opening the file and a checkpoint, which can wait for readers;
- any statement executed with the execution option `off_loop=True` (a bulk erasure, a scan over
  every signature): long enough to hold up page views if it ran on the loop.

Only the writer's engine uses it; the read engine stays on aiosqlite, whose exports and page
reads may take long.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.util import await_

DRIVER = "petition_inline"  # the URL says sqlite+petition_inline://

_T = TypeVar("_T")


def register() -> None:
    """Make `sqlite+petition_inline` known to SQLAlchemy (idempotent)."""
    registry.register(f"sqlite.{DRIVER}", __name__, "InlineDialect")


class InlineCursor(sqlite3.Cursor):
    """sqlite3's cursor, with the one coroutine SQLAlchemy's async results call on it."""

    async def _async_soft_close(self) -> None:
        # aiosqlite's cursors are closed here and their rows kept in memory; ours fetch in
        # place, from the same thread, so they stay open until SQLAlchemy closes them.
        return None


class InlineConnection:
    """A sqlite3 connection whose statements run in place and whose waits run in a thread."""

    def __init__(self, raw: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._raw = raw
        self._executor = executor

    # What the DBAPI asks of a connection, in place.
    def cursor(self) -> InlineCursor:
        return self._raw.cursor(InlineCursor)

    def rollback(self) -> None:
        # A rollback in WAL mode forgets pages in memory; it does not wait for the disk.
        self._raw.rollback()

    def commit(self) -> None:
        self.off_loop(self._raw.commit)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            self._executor.shutdown(wait=False)

    @property
    def isolation_level(self) -> str | None:
        return self._raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:  # sqlite3 checks the words itself
        self._raw.isolation_level = value

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._raw.create_function(*args, **kwargs)

    # What may wait (BEGIN IMMEDIATE comes as a statement marked off_loop: see db.py).
    def execute_off_loop(
        self, cursor: sqlite3.Cursor, statement: str, parameters: Sequence[Any] | dict[str, Any]
    ) -> None:
        self.off_loop(cursor.execute, statement, parameters)

    def off_loop(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run `function` in this connection's thread; the calling greenlet waits, the loop runs."""
        loop = asyncio.get_running_loop()
        return await_(loop.run_in_executor(self._executor, function, *args))


class _DBAPI:
    """The module SQLAlchemy sees: sqlite3's names, and a connect that makes an InlineConnection."""

    paramstyle = "qmark"
    sqlite_version = sqlite3.sqlite_version
    sqlite_version_info = sqlite3.sqlite_version_info
    PARSE_COLNAMES = sqlite3.PARSE_COLNAMES
    PARSE_DECLTYPES = sqlite3.PARSE_DECLTYPES
    Binary = sqlite3.Binary
    Error = sqlite3.Error
    Warning = sqlite3.Warning
    InterfaceError = sqlite3.InterfaceError
    DatabaseError = sqlite3.DatabaseError
    DataError = sqlite3.DataError
    OperationalError = sqlite3.OperationalError
    IntegrityError = sqlite3.IntegrityError
    InternalError = sqlite3.InternalError
    ProgrammingError = sqlite3.ProgrammingError
    NotSupportedError = sqlite3.NotSupportedError
    has_stop = False  # asked by the aiosqlite dialect we build on

    def connect(self, *args: Any, **kwargs: Any) -> InlineConnection:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        kwargs["check_same_thread"] = False  # the loop's thread and this one take turns
        loop = asyncio.get_running_loop()
        try:
            raw = await_(loop.run_in_executor(executor, lambda: sqlite3.connect(*args, **kwargs)))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return InlineConnection(raw, executor)


class InlineDialect(SQLiteDialect_aiosqlite):
    """SQLAlchemy's aiosqlite dialect (async, pooled as async) over InlineConnection."""

    driver = DRIVER
    supports_statement_cache = True
    supports_server_side_cursors = False
    has_terminate = False

    @classmethod
    def import_dbapi(cls) -> Any:
        return _DBAPI()

    def retrieve_dbapi_version(self, dbapi: Any) -> Any:
        return None

    def get_driver_connection(self, connection: Any) -> Any:
        return connection

    def do_execute(
        self,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any = None,
    ) -> None:
        if context is not None and context.execution_options.get("off_loop"):
            connection: InlineConnection = context.root_connection.connection.dbapi_connection
            connection.execute_off_loop(cursor, statement, parameters)
            return
        # Through the loop's own greenlet, at once: SQLAlchemy's AsyncConnection insists that a
        # statement awaits something, and a coroutine that is done when started costs two
        # greenlet switches, not a trip to a thread.
        await_(_at_once(cursor.execute, statement, parameters))


async def _at_once(function: Callable[..., _T], *args: Any) -> _T:
    return function(*args)
