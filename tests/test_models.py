"""Moments are stored in SQLite as the text SQLAlchemy's DATETIME writes, to the character:
rows written before and after compare and sort together (SQLite compares that text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import create_async_engine

from petition.models import UTCDateTime

MOMENTS = [
    datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    datetime(2026, 12, 1, 9, 30, 0, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 2, 30, 59, 999_999, tzinfo=timezone(timedelta(hours=2))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_moment_is_written_as_sqlalchemys_sqlite_datetime_writes_it(moment: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    reference = sqlite.DATETIME().bind_processor(dialect)  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
    assert ours is not None and reference is not None
    assert ours(moment) == reference(moment.astimezone(UTC))


def test_a_naive_moment_is_refused() -> None:
    process = UTCDateTime().bind_processor(sqlite.dialect())
    assert process is not None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 12, 1, 9, 30))  # the mistake under test


async def test_moments_come_back_as_they_went_and_sort_in_time(tmp_path: Path) -> None:
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/moments.db")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(table.insert(), [{"at": m} for m in MOMENTS])
            back = (await connection.execute(select(table.c.at).order_by(table.c.at))).scalars()
            assert list(back) == sorted(MOMENTS)
    finally:
        await engine.dispose()
