"""Engine and session factory: URL normalisation and the SQLite pragmas we rely on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from petition import sqlite_inline
from petition.journal import Journal
from petition.journal import session_options as journal_options

SessionFactory = async_sessionmaker[AsyncSession]
_P = ParamSpec("_P")
_T = TypeVar("_T")
# Execution options of a statement long enough to hold up page views if it ran on the event
# loop (a bulk erasure, a scan over every signature): on SQLite, it runs in the writer's thread.
OFF_LOOP = {"off_loop": True}
READERS = 4  # pooled read-only SQLite connections per process (as many again on demand)


def async_url(url: str) -> URL:
    """Accept the plain URLs users know and pick the async driver ourselves."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database: {backend} (use sqlite:/// or postgresql://)")


def is_sqlite(url: str | URL) -> bool:
    return make_url(str(url) if isinstance(url, URL) else url).get_backend_name() == "sqlite"


def dialect_of(session: AsyncSession | Session) -> str:
    """`sqlite` or `postgresql`: for the few statements each writes in its own way."""
    return session.get_bind().dialect.name


def upsert(dialect: str, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model`'s table that can say ON CONFLICT, in this dialect's words.

    Of the table, not of the ORM class: the hot paths build such a statement once per dialect
    (`functools.cache`) and give the values when executing it, which spares them the ORM's bulk
    path and a cache key computed per request.
    """
    return (
        postgresql.insert(table(model)) if dialect == "postgresql" else sqlite.insert(table(model))
    )


def awaited(
    function: Callable[Concatenate[Session, _P], _T],
) -> Callable[Concatenate[AsyncSession, _P], Awaitable[_T]]:
    """The async form of a function written for SQLAlchemy's synchronous session.

    Hot paths write their statements for the synchronous session and run them together in
    one `run_sync` (the async layer costs ~20 µs a statement, bench/statement_cost.py); this
    gives other callers the same function to await, in its own `run_sync`.
    """

    async def run(session: AsyncSession, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await session.run_sync(function, *args, **kwargs)

    return run


def table(model: type[Any]) -> Table:
    """The table of a mapped class, for statements of Core (no ORM behind them)."""
    return cast(Table, model.__table__)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, full fsync, a busy timeout, foreign keys and one writer."""
    target = async_url(url)
    # Errors and logs must never quote the values of a statement: addresses, names, tokens.
    kwargs.setdefault("hide_parameters", True)
    if target.get_backend_name() != "sqlite":
        return create_async_engine(target, pool_pre_ping=True, **kwargs)
    if target.database and target.database != ":memory:":
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    # Statements on the event loop, their waits (BEGIN, COMMIT) in a thread: see sqlite_inline.
    sqlite_inline.register()
    target = target.set(drivername=f"sqlite+{sqlite_inline.DRIVER}")
    # One connection per process: SQLite has one writer anyway, and queueing in the pool is
    # fairer and faster than several connections spinning on the busy handler.
    engine = create_async_engine(target, pool_size=1, max_overflow=0, pool_timeout=60, **kwargs)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def create_read_engine(url: str) -> AsyncEngine:
    """An engine for reads — page views, the live snapshot, exports — that never hold up signing.

    On SQLite the main engine has one connection and takes the write lock at BEGIN; a long
    export through it would stop the whole site. Here, connections of their own, read-only,
    with a plain (deferred) BEGIN: in WAL mode they read a snapshot while writers go on.
    On PostgreSQL, a pool of its own: reads never wait for a connection a write batch holds.
    """
    target = async_url(url)
    if target.get_backend_name() != "sqlite":
        return create_async_engine(target, pool_pre_ping=True, hide_parameters=True)
    # A few pooled connections: opening one per page view would cost more than the reading.
    engine = create_async_engine(
        target, pool_size=READERS, max_overflow=READERS, pool_timeout=60, hide_parameters=True
    )
    event.listen(engine.sync_engine, "connect", _sqlite_reader_on_connect)
    event.listen(engine.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN"))
    return engine


def _sqlite_reader_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let us issue BEGIN ourselves (see _sqlite_on_begin) instead of the driver's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a transaction reported committed survives a power loss, not only a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erased addresses and names are overwritten with zeros, not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so another process (the CLI beside the server)
    # waits on the busy timeout instead of failing on a lock upgrade half-way through.
    # The wait is the busy timeout's: off the event loop.
    connection.exec_driver_sql("BEGIN IMMEDIATE", execution_options=OFF_LOOP)


async def off_loop(session: AsyncSession) -> None:
    """Run every statement of this session's transaction off the event loop (on SQLite): for
    jobs that go through a whole table. Call it before the session's first statement."""
    await session.connection(execution_options=OFF_LOOP)


def create_session_factory(engine: AsyncEngine, journal: Journal | None = None) -> SessionFactory:
    """Sessions on `engine`; with a journal, what they erase is journalled as they commit
    (petition.journal). Without one they refuse to erase: for readers, and commands that
    never erase."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, **journal_options(journal)
    )


async def scrub(engine: AsyncEngine) -> None:
    """Fold the SQLite write-ahead log into the database and empty it.

    The log keeps old page images, erased addresses included, until it is reused; after an
    erasure we fold it in (where secure_delete has zeroed them) and truncate it.
    PostgreSQL keeps old row versions until VACUUM, which autovacuum runs; nothing to do here.
    """
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        await connection.run_sync(_checkpoint)


def _checkpoint(connection: Any) -> None:
    # On the driver's connection, outside any transaction (a checkpoint cannot run inside one),
    # and off the loop: it waits for readers to leave the pages it folds in.
    driver = connection.connection.driver_connection
    if not isinstance(driver, sqlite_inline.InlineConnection):
        raise RuntimeError("no live SQLite connection to checkpoint")
    driver.off_loop(driver.cursor().execute, "PRAGMA wal_checkpoint(TRUNCATE)")


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE touched (its CursorResult's rowcount; 0 when unknown)."""
    return int(getattr(result, "rowcount", 0) or 0)
