"""Moderation: find signatures, invalidate them (one or many by a rule) with a reason, restore them.

Counters follow in the same transaction, and every action is written to the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit, counts, db, journal, paper
from petition.models import Campaign, Organiser, Signature, SignatureStatus

PAGE_SIZE = 50
_LIVE = (SignatureStatus.PENDING, SignatureStatus.CONFIRMED, SignatureStatus.QUARANTINED)


@dataclass(frozen=True, slots=True)
class Rule:
    """Which signatures an action applies to; empty fields match everything."""

    ids: tuple[int, ...] = ()
    name: str = ""  # part of the first or last name
    organisation: str = ""  # the whole organisation, any case
    email_domain: str = ""
    since: datetime | None = None
    until: datetime | None = None
    caught_by: str = ""  # the anti-abuse rule that sent them to quarantine

    def is_empty(self) -> bool:
        return not (
            self.caught_by
            or self.ids
            or self.name
            or self.organisation
            or self.email_domain
            or self.since
            or self.until
        )

    def describe(self) -> dict[str, object]:
        values = asdict(self)
        values["ids"] = list(self.ids)
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items() if v
        }

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.ids:
            found.append(Signature.id.in_(self.ids))
        if self.name:
            pattern = f"%{_escape_like(self.name.lower())}%"
            found.append(
                or_(
                    func.lower(Signature.first_name).like(pattern, escape="\\"),
                    func.lower(Signature.last_name).like(pattern, escape="\\"),
                )
            )
        if self.organisation:
            found.append(func.lower(Signature.organisation) == self.organisation.strip().lower())
        if self.email_domain:
            found.append(Signature.email_domain == self.email_domain.strip().lower().lstrip("@"))
        if self.caught_by:
            found.append(Signature.quarantine_rule == self.caught_by)
        if self.since is not None:
            found.append(Signature.created_at >= self.since)
        if self.until is not None:
            found.append(Signature.created_at < self.until)
        return found


@dataclass(frozen=True, slots=True)
class Page:
    signatures: list[Signature]
    total: int
    number: int

    @property
    def last(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


async def search(
    session: AsyncSession,
    campaign: Campaign,
    *,
    text: str = "",
    status: SignatureStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
) -> Page:
    """Signatures of a campaign, newest first, by part of a name, role or organisation."""
    query = select(Signature).where(
        Signature.campaign_id == campaign.id, Signature.status != SignatureStatus.WITHDRAWN
    )
    if status is not None:
        query = query.where(Signature.status == status)
    query = query.where(*Rule(since=since, until=until).conditions())
    if text.strip():
        pattern = f"%{_escape_like(text.strip().lower())}%"
        columns = (
            Signature.first_name,
            Signature.last_name,
            Signature.role,
            Signature.organisation,
        )
        query = query.where(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns)))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = min(max(1, page), max(1, -(-total // PAGE_SIZE)))
    result = await session.execute(
        query.order_by(Signature.created_at.desc(), Signature.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Page(list(result.scalars()), int(total), page)


def _matching(campaign: Campaign, rule: Rule, statuses: tuple[SignatureStatus, ...]) -> Select[int]:
    return select(Signature.id).where(
        Signature.campaign_id == campaign.id, Signature.status.in_(statuses), *rule.conditions()
    )


async def preview(session: AsyncSession, campaign: Campaign, rule: Rule) -> int:
    """How many signatures `invalidate` would change, shown before anything changes."""
    query = _matching(campaign, rule, _LIVE).subquery()
    return int(await session.scalar(select(func.count()).select_from(query)) or 0)


async def invalidate(
    session: AsyncSession,
    campaign: Campaign,
    rule: Rule,
    reason: str,
    organiser: Organiser,
    now: datetime,
) -> int:
    """Invalidate what the rule matches; the count drops by the confirmed ones among them."""
    if rule.is_empty():
        raise ValueError("a rule must say what it applies to")
    # Uncounted ones first, then the counted ones, so that the count drops by exactly those,
    # even while signers confirm at the same moment. The status is tested on the row itself
    # as well as in the rule's subquery: PostgreSQL re-checks a row's own conditions when it
    # had to wait for a concurrent change of it (a confirmation), never a subquery's; so a
    # signature confirmed meanwhile escapes the first pass and is caught, counted, by the second
    # (signatures become confirmed, never pending again).
    changed = 0
    for statuses in (
        (SignatureStatus.PENDING, SignatureStatus.QUARANTINED),
        (SignatureStatus.CONFIRMED,),
    ):
        result = await session.execute(
            update(Signature)
            .where(
                Signature.id.in_(_matching(campaign, rule, statuses).scalar_subquery()),
                Signature.status.in_(statuses),
            )
            .values(
                status=SignatureStatus.INVALIDATED, invalidated_at=now, invalidation_reason=reason
            )
            .returning(Signature.id, Signature.email_hash)
            .execution_options(**db.OFF_LOOP)  # as many rows as the rule matches
        )
        rows = result.all()
        # Outside the database too (ids and keyed hashes, never the reason): a restore from
        # an older backup invalidates them again.
        journal.note(session, journal.INVALIDATION, campaign.id, rows, at=now)
        done = len(rows)
        if statuses == (SignatureStatus.CONFIRMED,) and done:
            await counts.add(session, campaign.id, -done)
            await paper.follow(session, campaign.id, [ident for ident, _hash in rows], -1)
        changed += done
    await audit.record(
        session,
        campaign,
        organiser,
        "invalidate",
        {**rule.describe(), "reason": reason},
        changed,
        now,
    )
    return changed


async def restore(
    session: AsyncSession, campaign: Campaign, rule: Rule, organiser: Organiser, now: datetime
) -> int:
    """Undo invalidations: back to confirmed (and counted) or pending, as before."""
    # The status on the row too (see `invalidate`): one withdrawn meanwhile stays withdrawn.
    restorable = and_(
        Signature.id.in_(
            _matching(campaign, rule, (SignatureStatus.INVALIDATED,)).scalar_subquery()
        ),
        Signature.status == SignatureStatus.INVALIDATED,
    )
    confirmed = await session.execute(
        update(Signature)
        .where(restorable, Signature.confirmed_at.is_not(None))
        .values(
            status=SignatureStatus.CONFIRMED,
            invalidated_at=None,
            invalidation_reason=None,
            quarantine_rule=None,
        )
        .returning(Signature.id, Signature.email_hash)
        .execution_options(**db.OFF_LOOP)
    )
    restored = list(confirmed.all())
    recounted = len(restored)
    await paper.follow(session, campaign.id, [ident for ident, _hash in restored], +1)
    pending = await session.execute(
        update(Signature)
        .where(restorable, Signature.confirmed_at.is_(None))
        .values(
            status=SignatureStatus.PENDING,
            invalidated_at=None,
            invalidation_reason=None,
            quarantine_rule=None,
        )
        .returning(Signature.id, Signature.email_hash)
        .execution_options(**db.OFF_LOOP)
    )
    restored += pending.all()
    journal.note(session, journal.RESTORATION, campaign.id, restored, at=now)
    total = len(restored)
    if recounted:
        await counts.add(session, campaign.id, recounted)
    await audit.record(session, campaign, organiser, "restore", rule.describe(), total, now)
    return total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
