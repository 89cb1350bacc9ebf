"""Confirmed-signature counters, kept in the same transaction as the signature they count.

A single counter row would make every confirmation of a viral campaign wait for the one before
it (a hot row); the count is therefore split into shards, each confirmation touching one at
random, and read as the sum of a handful of rows — never COUNT(*) over signatures.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, db
from petition.models import CounterShard

SHARDS = 8
_SHARD = "petition.counter_shard"
_PENDING = "petition.counts_pending"


async def create_shards(session: AsyncSession, campaign_id: int) -> None:
    session.add_all(
        CounterShard(campaign_id=campaign_id, shard=n, confirmed=0) for n in range(SHARDS)
    )
    await session.flush()


async def add(session: AsyncSession, campaign_id: int, delta: int) -> None:
    """Add `delta` to the campaign's count, inside the caller's transaction (at its end, in
    `batched`)."""
    changes.count(session, campaign_id, delta)
    pending = session.info.get(_PENDING)
    if pending is not None:
        pending[campaign_id] = pending.get(campaign_id, 0) + delta
        return
    await _write(session, campaign_id, delta)


@contextlib.asynccontextmanager
async def batched(session: AsyncSession) -> AsyncIterator[None]:
    """Within: what `add` adds is summed per campaign, and written once on leaving without an
    error, one statement per campaign instead of one per confirmation (the writer's batches,
    which run all or nothing; a savepoint rolled back could not take its part back)."""
    session.info[_PENDING] = {}
    try:
        yield
    except BaseException:
        session.info.pop(_PENDING, None)
        raise
    for campaign_id, delta in session.info.pop(_PENDING).items():
        if delta:
            await _write(session, campaign_id, delta)


async def _write(session: AsyncSession, campaign_id: int, delta: int) -> None:
    # One shard per transaction: a batch of the writer (petition.writer) then locks one
    # counter row, and two batches committing at once never wait for each other in a cycle.
    shard = session.info.setdefault(_SHARD, random.randrange(SHARDS))  # noqa: S311  # spreading load, not security
    await session.execute(_ADD, {"of_campaign": campaign_id, "in_shard": shard, "delta": delta})


_SHARDS = db.table(CounterShard).c
_ADD = (
    update(db.table(CounterShard))
    .where(_SHARDS.campaign_id == bindparam("of_campaign"), _SHARDS.shard == bindparam("in_shard"))
    .values(confirmed=_SHARDS.confirmed + bindparam("delta"))
)


async def confirmed(session: AsyncSession, campaign_id: int) -> int:
    result = await session.execute(
        select(func.coalesce(func.sum(CounterShard.confirmed), 0)).where(
            CounterShard.campaign_id == campaign_id
        )
    )
    return int(result.scalar_one())


async def confirmed_by_campaign(session: AsyncSession) -> dict[int, int]:
    result = await session.execute(
        select(CounterShard.campaign_id, func.sum(CounterShard.confirmed)).group_by(
            CounterShard.campaign_id
        )
    )
    return {campaign_id: int(total) for campaign_id, total in result.all()}
