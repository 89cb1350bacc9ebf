"""What one INSERT costs the server's CPU, by the layers it goes through.

The same INSERT (a row with a unique index, as a signature has), 3,000 times in one transaction
of a fresh SQLite file: through SQLAlchemy's async engine over petition's inline driver (the
writer's path, petition/sqlite_inline.py), over aiosqlite (the read engine's, and the writer's
before), aiosqlite alone, SQLAlchemy's sync engine, and the standard library's sqlite3 (the lean
ceiling's). Prints the CPU time per statement of this process (every thread). See bench/README.md.

    .venv/bin/python bench/statement_cost.py [--statements N]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiosqlite
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

from petition import sqlite_inline

_METADATA = MetaData()
_TABLE = Table(
    "t",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("h", String, unique=True),
    Column("v", String),
)
_DDL = "create table t (id integer primary key, h text unique, v text)"
_VALUE = "x" * 100


def _per_statement(started: float, n: int) -> float:
    return (time.process_time() - started) / n * 1e6


async def _sqlalchemy_async(directory: Path, n: int, driver: str) -> float:
    engine = create_async_engine(f"sqlite+{driver}:///{directory}/{driver}.db")
    async with engine.begin() as connection:
        await connection.run_sync(_METADATA.create_all)
    statement = insert(_TABLE)
    async with engine.begin() as connection:
        started = time.process_time()
        for i in range(n):
            await connection.execute(statement, {"h": f"h{i}", "v": _VALUE})
        cost = _per_statement(started, n)
    await engine.dispose()
    return cost


async def _aiosqlite(directory: Path, n: int) -> float:
    async with aiosqlite.connect(directory / "aiosqlite-alone.db") as connection:
        await connection.execute(_DDL)
        started = time.process_time()
        for i in range(n):
            await connection.execute("insert into t (h, v) values (?, ?)", (f"h{i}", _VALUE))
        await connection.commit()
        return _per_statement(started, n)


def _sqlalchemy_sync(directory: Path, n: int) -> float:
    engine = create_engine(f"sqlite:///{directory}/sync.db")
    _METADATA.create_all(engine)
    statement = insert(_TABLE)
    with Session(engine) as session, session.begin():
        started = time.process_time()
        for i in range(n):
            session.execute(statement, {"h": f"h{i}", "v": _VALUE})
        cost = _per_statement(started, n)
    engine.dispose()
    return cost


def _sqlite3(directory: Path, n: int) -> float:
    connection = sqlite3.connect(directory / "sqlite3.db")
    connection.execute(_DDL)
    started = time.process_time()
    for i in range(n):
        connection.execute("insert into t (h, v) values (?, ?)", (f"h{i}", _VALUE))
    connection.commit()
    cost = _per_statement(started, n)
    connection.close()
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=3000, metavar="N")
    n = parser.parse_args(argv).statements
    sqlite_inline.register()
    ways: list[tuple[str, Callable[[Path, int], float]]] = [
        (
            "SQLAlchemy async over the inline driver (petition's writer)",
            lambda d, k: asyncio.run(_sqlalchemy_async(d, k, sqlite_inline.DRIVER)),
        ),
        (
            "SQLAlchemy async over aiosqlite (petition's reads)",
            lambda d, k: asyncio.run(_sqlalchemy_async(d, k, "aiosqlite")),
        ),
        ("aiosqlite alone", lambda d, k: asyncio.run(_aiosqlite(d, k))),
        ("SQLAlchemy sync over sqlite3", _sqlalchemy_sync),
        ("sqlite3 (the lean signing's)", _sqlite3),
    ]
    print(f"CPU per INSERT, {n} in one transaction each way:")
    with tempfile.TemporaryDirectory(prefix="petition-statements-") as temporary:
        for name, way in ways:
            print(f"  {way(Path(temporary), n):7.0f} µs  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
