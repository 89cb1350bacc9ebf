"""Counters checked against the signatures they count, and repaired when they drifted.

Counters are kept in the transaction that confirms, withdraws, invalidates or restores a
signature, so they should never drift; this is the proof, and the repair if a bug, a manual
edit of the database or a restore from backup ever made them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, paper
from petition.models import Campaign, CounterShard, Signature, SignatureStatus


@dataclass(frozen=True, slots=True)
class Drift:
    slug: str
    counted: int  # what the counters said
    actual: int  # confirmed signatures in the table, plus counted paper batches


async def check(session: AsyncSession, *, fix: bool) -> list[Drift]:
    """Every campaign whose counters disagree with its rows; with `fix`, repaired in place.

    The counters are locked before the rows are counted: a confirmation still in flight then
    waits, and adds its +1 to the repaired value rather than being lost or counted twice.
    """
    drifts = []
    for campaign_id, slug in (await session.execute(select(Campaign.id, Campaign.slug))).all():
        shards = select(CounterShard.confirmed).where(CounterShard.campaign_id == campaign_id)
        if fix:
            shards = shards.with_for_update()
        counted = sum((await session.execute(shards)).scalars())
        actual = await session.scalar(
            select(func.count()).where(
                Signature.campaign_id == campaign_id,
                Signature.status == SignatureStatus.CONFIRMED,
            )
        )
        # Batches counted on paper have no rows: their totals are part of the count.
        apart = await paper.counted_apart(session, campaign_id)
        actual = int(actual or 0) + apart
        if fix:  # the paper part too (a restore may bring back a batch whose rows went)
            await paper.recount(session, campaign_id, apart)
        if counted == actual:
            continue
        drifts.append(Drift(slug, counted, actual))
        if fix:
            await session.execute(
                update(CounterShard)
                .where(CounterShard.campaign_id == campaign_id)
                .values(confirmed=0)
            )
            await session.execute(
                update(CounterShard)
                .where(CounterShard.campaign_id == campaign_id, CounterShard.shard == 0)
                .values(confirmed=actual)
            )
            changes.record(session, campaign_id)
    return drifts
