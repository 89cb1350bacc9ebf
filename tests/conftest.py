"""Fixtures: a migrated database (SQLite and PostgreSQL), a real SMTP sink, a live HTTP server."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from petition import migrate
from petition.db import SessionFactory, create_engine, create_session_factory
from petition.journal import Journal
from petition.models import Base, Campaign
from petition.settings import Settings
from tests.support.accounts import PASSWORD
from tests.support.clock import FakeClock
from tests.support.journey import make_campaign
from tests.support.server import LiveServer, serve
from tests.support.settings import for_tests
from tests.support.smtp import SmtpSink, free_port

POSTGRESQL_URL = os.environ.get(
    "PETITION_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PETITION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Set by .ci/run: there, a missing service is a failure, not a skip.
SERVICES_REQUIRED = os.environ.get("PETITION_TEST_REQUIRE_SERVICES") == "1"
_postgres_problem: str | None = None
_redis_problem: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _postgres_problem, _redis_problem
    _postgres_problem = _probe_postgres()
    _redis_problem = _probe_redis()
    if _postgres_problem and SERVICES_REQUIRED:
        raise pytest.UsageError(f"PostgreSQL is required here but {_postgres_problem}")
    if _redis_problem and SERVICES_REQUIRED:
        raise pytest.UsageError(f"Redis is required here but {_redis_problem}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"NOTICE: PostgreSQL tests SKIPPED: {_postgres_problem}"
        if _postgres_problem
        else f"PostgreSQL tests run against {POSTGRESQL_URL}",
        f"NOTICE: Redis tests SKIPPED: {_redis_problem}"
        if _redis_problem
        else f"Redis tests run against {REDIS_URL}",
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, problem, variable in (
        ("PostgreSQL", _postgres_problem, "PETITION_TEST_POSTGRESQL_URL"),
        ("Redis", _redis_problem, "PETITION_TEST_REDIS_URL"),
    ):
        if problem:
            terminalreporter.write_line(
                f"NOTICE: {name} tests were skipped ({problem}); set {variable} to run them.",
                yellow=True,
                bold=True,
            )


def _probe_redis() -> str | None:
    async def probe() -> None:
        client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"cannot reach {REDIS_URL}: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture
def redis_url() -> str:
    if _redis_problem:
        pytest.skip(f"Redis unavailable: {_redis_problem}")
    return REDIS_URL


def _probe_postgres() -> str | None:
    async def probe() -> None:
        engine = create_engine(POSTGRESQL_URL, connect_args={"timeout": 3})
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"cannot reach {POSTGRESQL_URL}: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database built by the migrations once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "petition.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    if _postgres_problem:
        pytest.skip(f"PostgreSQL unavailable: {_postgres_problem}")

    async def reset_schema() -> None:
        engine = create_engine(POSTGRESQL_URL)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()

    asyncio.run(reset_schema())
    migrate.upgrade(POSTGRESQL_URL)
    return POSTGRESQL_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every database test runs twice: on SQLite and on PostgreSQL, schemas built by migrations."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "petition.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_migrated")
    asyncio.run(_truncate_all(url))
    yield url


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink) -> Settings:
    return for_tests(tmp_path / "var", database_url, smtp.port)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test's own connection to the database, to arrange and to inspect."""
    test_engine = create_engine(settings.resolved_database_url)
    yield test_engine
    await test_engine.dispose()


@pytest.fixture
async def server(settings: Settings, clock: FakeClock) -> AsyncIterator[LiveServer]:
    async with serve(settings, clock) as live:
        yield live


@pytest.fixture
def sessions(engine: AsyncEngine, settings: Settings) -> SessionFactory:
    """The test's sessions; what they erase goes to the site's journal, in the test's var dir."""
    return create_session_factory(engine, Journal(settings.resolved_journal_file))


@pytest.fixture(scope="session")
def password_hash() -> str:
    """argon2id of tests.support.accounts.PASSWORD, computed once: hashing is slow on purpose."""
    return PasswordHasher().hash(PASSWORD)


@pytest.fixture
async def campaign(sessions: SessionFactory, clock: FakeClock) -> Campaign:
    """The campaign most journeys sign: open, no closing date, slug `mission-sante`."""
    return await make_campaign(sessions, clock)
