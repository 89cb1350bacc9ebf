"""Signatures an anti-abuse rule caught: held out of the count until organisers decide.

A caught signature is answered and mailed like any other. Confirmed, it is QUARANTINED (not
counted); still pending, it carries its rule and will be quarantined at confirmation. Release
counts the confirmed ones and lets the pending ones confirm normally; invalidation is
moderation's. Organisers also see which rules and which email domains spike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from petition import audit, counts, db, defences, journal
from petition.models import AbuseSignal, Campaign, Organiser, Signature, SignatureStatus

PAGE_SIZE = 100
RULES = defences.RULES  # what organisers read about each rule


def held(campaign: Campaign, rule: str = "") -> list[ColumnElement[bool]]:
    """Conditions for the campaign's held signatures (quarantined, or pending and caught)."""
    found: list[ColumnElement[bool]] = [
        Signature.campaign_id == campaign.id,
        or_(
            Signature.status == SignatureStatus.QUARANTINED,
            (Signature.status == SignatureStatus.PENDING) & Signature.quarantine_rule.is_not(None),
        ),
    ]
    if rule:
        found.append(Signature.quarantine_rule == rule)
    return found


@dataclass(frozen=True, slots=True)
class Held:
    signatures: list[Signature]
    total: int
    by_rule: dict[str, int]


async def list_held(session: AsyncSession, campaign: Campaign, rule: str = "") -> Held:
    result = await session.execute(
        select(Signature)
        .where(*held(campaign, rule))
        .order_by(Signature.created_at.desc(), Signature.id.desc())
        .limit(PAGE_SIZE)
    )
    rules = await session.execute(
        select(Signature.quarantine_rule, func.count())
        .where(*held(campaign))
        .group_by(Signature.quarantine_rule)
    )
    by_rule = {str(name): int(n) for name, n in rules.all()}
    total = sum(n for name, n in by_rule.items() if not rule or name == rule)
    return Held(list(result.scalars()), total, by_rule)


async def release(
    session: AsyncSession,
    campaign: Campaign,
    organiser: Organiser,
    now: datetime,
    *,
    ids: tuple[int, ...] = (),
    rule: str = "",
) -> int:
    """Release the ticked held signatures, or all those a rule caught: confirmed ones count now."""
    if not ids and not rule:
        raise ValueError("say which signatures to release")
    chosen = held(campaign, rule) + ([Signature.id.in_(ids)] if ids else [])
    confirmed = await session.execute(
        update(Signature)
        .where(*chosen, Signature.status == SignatureStatus.QUARANTINED)
        .values(status=SignatureStatus.CONFIRMED, quarantine_rule=None)
        .returning(Signature.id, Signature.email_hash)
        .execution_options(**db.OFF_LOOP)  # every signature a rule held, maybe thousands
    )
    released = list(confirmed.all())
    counted = len(released)
    pending = await session.execute(
        update(Signature)
        .where(*chosen, Signature.status == SignatureStatus.PENDING)
        .values(quarantine_rule=None)
        .returning(Signature.id, Signature.email_hash)
        .execution_options(**db.OFF_LOOP)  # every signature a rule held, maybe thousands
    )
    released += pending.all()
    # Outside the database too: a restore from an older backup releases them again.
    journal.note(session, journal.RELEASE, campaign.id, released, at=now)
    total = len(released)
    if counted:
        await counts.add(session, campaign.id, counted)
    details: dict[str, object] = {"ids": list(ids)} if ids else {"rule": rule}
    await audit.record(session, campaign, organiser, "release", details, total, now)
    return total


async def record_signal(session: AsyncSession, campaign_id: int, rule: str, now: datetime) -> None:
    """Remember that a rule fired, for the spike view; deleted after the signals period."""
    await session.execute(
        insert(AbuseSignal).values(campaign_id=campaign_id, rule=rule, created_at=now)
    )


@dataclass(frozen=True, slots=True)
class Spike:
    name: str
    last_day: int
    day_before: int

    @property
    def spiking(self) -> bool:
        """Several times its usual level, and not a handful."""
        return self.last_day >= 10 and self.last_day >= 3 * max(1, self.day_before)


async def spikes(
    session: AsyncSession, campaign: Campaign, now: datetime
) -> tuple[list[Spike], list[Spike]]:
    """Rules that fired and email domains of new signatures: last 24 hours against the 24
    before, most frequent first (domains: the 20 most frequent)."""
    day, before = now - timedelta(days=1), now - timedelta(days=2)
    rules = await _compare(
        session,
        AbuseSignal.rule,
        AbuseSignal.created_at,
        AbuseSignal.campaign_id,
        campaign,
        day,
        before,
    )
    domains = await _compare(
        session,
        Signature.email_domain,
        Signature.created_at,
        Signature.campaign_id,
        campaign,
        day,
        before,
    )
    return rules, domains[:20]


async def _compare(
    session: AsyncSession,
    column: InstrumentedAttribute[Any],
    moment: InstrumentedAttribute[datetime],
    owner: InstrumentedAttribute[int],
    campaign: Campaign,
    day: datetime,
    before: datetime,
) -> list[Spike]:
    recent: dict[str, int] = {}
    earlier: dict[str, int] = {}
    is_recent = (moment >= day).label("recent")
    result = await session.execute(
        select(column, is_recent, func.count())
        .where(owner == campaign.id, moment >= before, column.is_not(None))
        .group_by(column, is_recent)
    )
    for name, is_recent, n in result.all():
        target = recent if is_recent else earlier
        target[str(name)] = target.get(str(name), 0) + int(n)
    names = set(recent) | set(earlier)
    found = [Spike(name, recent.get(name, 0), earlier.get(name, 0)) for name in names]
    return sorted(found, key=lambda s: (-s.last_day, -s.day_before, s.name))
