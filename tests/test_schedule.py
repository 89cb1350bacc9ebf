"""A scheduled job is claimed by one transaction per period, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from petition import schedule
from petition.db import SessionFactory

HOUR = timedelta(hours=1)
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


async def test_a_job_is_claimed_once_per_period(sessions: SessionFactory) -> None:
    async def claim(at: datetime) -> bool:
        async with sessions() as session, session.begin():
            return await schedule.claim(session, "purge", at, HOUR)

    assert await claim(NOON)
    assert not await claim(NOON + timedelta(minutes=59))
    assert await claim(NOON + HOUR)
    async with sessions() as session:
        assert (await schedule.last_runs(session))["purge"] == (NOON + HOUR, 2)


async def test_a_failed_job_leaves_its_claim_for_the_next_process(sessions: SessionFactory) -> None:
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            assert await schedule.claim(session, "counts_check", NOON, HOUR)
            raise RuntimeError("the job failed: its work and its claim go together")
    async with sessions() as session, session.begin():
        assert await schedule.claim(session, "counts_check", NOON, HOUR)


async def test_racing_claims_give_the_job_to_one_of_them(sessions: SessionFactory) -> None:
    async def claim() -> bool:
        async with sessions() as session, session.begin():
            won = await schedule.claim(session, "purge", NOON, HOUR)
            await asyncio.sleep(0.2)  # the job runs, holding its row
            return won

    assert sorted(await asyncio.gather(*(claim() for _ in range(4)))) == [False] * 3 + [True]
