"""Scheduled jobs that run once per period, however many processes are willing to run them.

Every process that runs the scheduled jobs — `petition worker`, several of them on several
hosts, or the web processes of a single-host site — wakes up now and then and tries to `claim`
each job. A claim is one conditional UPDATE of the job's row in `scheduled_runs`, taken in the
transaction that then does the job's work:

- it succeeds only if the job's last start is at least one period old, so the job runs at most
  once per period whatever the number of processes and however their clocks of waking fall;
- on PostgreSQL the row is read `FOR UPDATE SKIP LOCKED`: while one process holds it (the job is
  running), the others skip at once instead of queueing behind it; SQLite has one writer at a
  time, which gives the same guarantee;
- the claim commits with the work, or not at all: a job that fails leaves its last start as it
  was, and the next process to wake runs it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import db
from petition.models import ScheduledRun


async def claim(session: AsyncSession, name: str, now: datetime, period: timedelta) -> bool:
    """Whether this transaction is the one to run `name` now (its row is then updated)."""
    await session.execute(
        db.upsert(db.dialect_of(session), ScheduledRun)
        .values(name=name, runs=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    free = (
        select(ScheduledRun.name)
        .where(ScheduledRun.name == name)
        .with_for_update(skip_locked=True)  # dropped on SQLite, which has one writer anyway
        .scalar_subquery()
    )
    claimed = await session.execute(
        update(ScheduledRun)
        .where(
            ScheduledRun.name == free,
            ScheduledRun.last_started_at.is_(None) | (ScheduledRun.last_started_at <= now - period),
        )
        .values(last_started_at=now, runs=ScheduledRun.runs + 1)
        .returning(ScheduledRun.runs)
    )
    return claimed.scalar_one_or_none() is not None


async def last_runs(session: AsyncSession) -> dict[str, tuple[datetime | None, int]]:
    """Each job's last start and number of runs, for operators (doctor, metrics)."""
    rows = await session.execute(
        select(ScheduledRun.name, ScheduledRun.last_started_at, ScheduledRun.runs)
    )
    return {name: (started, runs) for name, started, runs in rows.all()}
