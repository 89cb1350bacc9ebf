"""What taking a backup (petition.backups) and restoring one (petition.restore) share.

Their error, and the helpers both need: private files (mode 0600, never over another, on
disk before they count), PostgreSQL's client tools (the password kept off their command
line), SQLite's integrity check, a database's schema revision, and URLs shown without their
password.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url

from petition import db


class BackupError(Exception):
    """A backup or a restore refused or failed; the message says why, and what to do."""


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """The SQLAlchemy URL as PostgreSQL's tools take it; the password goes in the environment
    (PGPASSWORD), never on a command line that other users can read."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "ssl" in query:  # asyncpg's word for it
        query["sslmode"] = query.pop("ssl")
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    plain = parsed.set(drivername="postgresql", password=None, query=query)
    return plain.render_as_string(hide_password=False), env


def run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(  # noqa: S603  # our own argument list, no shell
            command, capture_output=True, text=True, env={**os.environ, **env}, check=False
        )
    except FileNotFoundError as exc:
        raise BackupError(
            f"{command[0]} is not installed: it comes with PostgreSQL's client tools (Debian:"
            " postgresql-client), of the server's major version or newer"
        ) from exc
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


async def pg_revision(url: str) -> str | None:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('alembic_version')"))
            if exists is None:
                return None
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return str(found) if found is not None else None
    finally:
        await engine.dispose()


def check_sqlite(connection: sqlite3.Connection, *, what: str) -> None:
    verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if verdict != ["ok"]:
        raise BackupError(f"{what} fails SQLite's integrity check: {'; '.join(verdict[:5])}")


def sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def safe(url: str) -> str:
    """A URL to show: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def write_private(path: Path, data: bytes) -> None:
    with private(path) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def private(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
