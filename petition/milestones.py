"""Milestones of a campaign's count: thresholds with a meaning, reached once, told to organisers.

Organisers set thresholds (10 000, 100 000) and what each means, per language ("the Sénat's
threshold"). `check`, run as a scheduled job (petition.jobs), finds those the count has passed
and claims each with one conditional UPDATE (`... AND reached_at IS NULL`): only the transaction
whose UPDATE changed the row queues the organisers' mails, in that same transaction. Two
processes checking at once, or confirmations racing across the threshold, therefore tell each
organiser once; a check that rolls back leaves the milestone to the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, db, i18n, kept, outbox
from petition.forms import clean_text
from petition.i18n import _
from petition.models import Campaign, CampaignOrganiser, CounterShard, Milestone, Organiser
from petition.signing import Links

log = logging.getLogger(__name__)

TEMPLATE = "milestone"
LANGUAGES = ("fr", "en")  # the languages a milestone's meaning is given in
LABEL_LIMIT = 200
# A campaign closed this recently is still checked: its last confirmations may have come in
# just before it closed, after the previous check.
GRACE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Mark:
    """A milestone as the public sees it, in the live snapshot: compared and hashed by value,
    so that a snapshot read again without change is the same."""

    threshold: int
    labels: tuple[tuple[str, str], ...]  # (language, meaning), as organisers wrote them
    reached_at: datetime | None

    def labelled(self, locale: str, fallback: str = i18n.DEFAULT_LOCALE) -> tuple[str, str] | None:
        """(language, meaning): in `locale`, else in `fallback`, else in any language given."""
        found = dict(self.labels)
        for lang in (locale, fallback, *found):
            if found.get(lang):
                return lang, found[lang]
        return None

    def label(self, locale: str, fallback: str = i18n.DEFAULT_LOCALE) -> str | None:
        shown = self.labelled(locale, fallback)
        return shown[1] if shown else None


def mark(milestone: Milestone) -> Mark:
    labels = tuple((lang, text) for lang, text in sorted(milestone.labels.items()) if text)
    return Mark(milestone.threshold, labels, milestone.reached_at)


def upcoming(marks: Collection[Mark], count: int) -> Mark | None:
    """The next milestone ahead of `count`, if any."""
    ahead = [m for m in marks if m.reached_at is None and m.threshold > count]
    return min(ahead, key=lambda m: m.threshold, default=None)


def reached(marks: Collection[Mark]) -> list[Mark]:
    return sorted((m for m in marks if m.reached_at is not None), key=lambda m: m.threshold)


async def marks_of(
    session: AsyncSession, campaign_ids: Collection[int]
) -> dict[int, tuple[Mark, ...]]:
    """Each campaign's milestones, lowest first: one query, for the live snapshot."""
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(Milestone)
        .where(Milestone.campaign_id.in_(campaign_ids))
        .order_by(Milestone.campaign_id, Milestone.threshold)
    )
    found: dict[int, list[Mark]] = {}
    for milestone in rows.scalars():
        found.setdefault(milestone.campaign_id, []).append(mark(milestone))
    return {campaign_id: tuple(marks) for campaign_id, marks in found.items()}


# --- What organisers do -------------------------------------------------------------------


def parse_threshold(raw: str) -> tuple[int, str | None]:
    value = raw.strip().replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if not value.isdigit() or int(value) <= 0 or len(value) > 9:
        return 0, _("Give a whole number greater than zero.")
    return int(value), None


def parse_labels(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The meanings typed per language (`label_fr`, `label_en`), and any problem by field."""
    labels: dict[str, str] = {}
    errors: dict[str, str] = {}
    for lang in LANGUAGES:
        value, problem = clean_text(form.get(f"label_{lang}", ""), LABEL_LIMIT, required=False)
        if problem:
            errors[f"label_{lang}"] = problem
        elif value:
            labels[lang] = value
    if not labels and not errors:
        errors["label_fr"] = _("Say what it means, in French or in English.")
    return labels, errors


async def listed(session: AsyncSession, campaign_id: int) -> list[Milestone]:
    result = await session.execute(
        select(Milestone).where(Milestone.campaign_id == campaign_id).order_by(Milestone.threshold)
    )
    return list(result.scalars())


async def add(
    session: AsyncSession, campaign_id: int, threshold: int, labels: dict[str, str], now: datetime
) -> Milestone | None:
    """The new milestone, or None if the campaign has one at this threshold already (the
    unique constraint decides, also between two organisers adding it at once)."""
    milestone = Milestone(
        campaign_id=campaign_id, threshold=threshold, labels=labels, created_at=now
    )
    try:
        async with session.begin_nested():
            session.add(milestone)
            await session.flush()
    except IntegrityError:
        return None
    changes.record(session, campaign_id)
    return milestone


async def relabel(
    session: AsyncSession, campaign_id: int, ident: int, labels: dict[str, str]
) -> Milestone | None:
    milestone = await session.get(Milestone, ident)
    if milestone is None or milestone.campaign_id != campaign_id:
        return None
    milestone.labels = labels
    await session.flush()
    changes.record(session, campaign_id)
    return milestone


async def remove(session: AsyncSession, campaign_id: int, ident: int) -> int | None:
    """Delete a milestone not reached yet; its threshold, or None (unknown, or reached: what
    was reached stays, as organisers were told of it)."""
    gone = await session.execute(
        delete(Milestone)
        .where(
            Milestone.id == ident,
            Milestone.campaign_id == campaign_id,
            Milestone.reached_at.is_(None),
        )
        .returning(Milestone.threshold)
    )
    threshold = gone.scalar_one_or_none()
    if threshold is not None:
        changes.record(session, campaign_id)
    return threshold


# --- The check --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reached:
    campaign_id: int
    threshold: int
    count: int
    mails: int  # organisers told


async def check(
    session: AsyncSession, now: datetime, *, secret: bytes, public_url: str
) -> list[Reached]:
    """Claim the milestones the count has passed and queue their mails, in this transaction."""
    due = (
        await session.execute(
            select(Milestone.id, Milestone.campaign_id, Milestone.threshold)
            .join(Campaign, Campaign.id == Milestone.campaign_id)
            .where(
                Milestone.reached_at.is_(None),
                Campaign.anonymised_at.is_(None),
                or_(Campaign.opens_at.is_(None), Campaign.opens_at <= now),
                or_(Campaign.closes_at.is_(None), Campaign.closes_at > now - GRACE),
            )
            .order_by(Milestone.campaign_id, Milestone.threshold)
        )
    ).all()
    if not due:
        return []
    totals = await _totals(session, {campaign_id for _id, campaign_id, _t in due})
    done = []
    for ident, campaign_id, threshold in due:
        count = totals.get(campaign_id, 0)
        if threshold <= count and await _claim(session, ident, now):
            mails = await _tell(session, campaign_id, ident, count, now, secret, public_url)
            changes.record(session, campaign_id)
            done.append(Reached(campaign_id, threshold, count, mails))
    return done


async def _totals(session: AsyncSession, campaign_ids: Collection[int]) -> dict[int, int]:
    """The counts of these campaigns only: the sum of their counter shards."""
    rows = await session.execute(
        select(CounterShard.campaign_id, func.coalesce(func.sum(CounterShard.confirmed), 0))
        .where(CounterShard.campaign_id.in_(campaign_ids))
        .group_by(CounterShard.campaign_id)
    )
    return {campaign_id: int(total) for campaign_id, total in rows.all()}


_MILESTONES = db.table(Milestone).c


async def _claim(session: AsyncSession, ident: int, now: datetime) -> bool:
    """Whether this transaction is the one that reached it: the row changed for us alone (a
    concurrent claim waits for ours on PostgreSQL, then finds it reached; SQLite has one
    writer)."""
    result = await session.execute(
        update(db.table(Milestone))
        .where(_MILESTONES.id == ident, _MILESTONES.reached_at.is_(None))
        .values(reached_at=now)
    )
    return db.rowcount(result) == 1


async def _tell(
    session: AsyncSession,
    campaign_id: int,
    ident: int,
    count: int,
    now: datetime,
    secret: bytes,
    public_url: str,
) -> int:
    """One mail to each organiser of the campaign whose address is kept; how many."""
    campaign = await session.get(Campaign, campaign_id)
    milestone = await session.get(Milestone, ident)
    if campaign is None or milestone is None:
        return 0
    locale = campaign.language if campaign.language in i18n.LOCALES else i18n.DEFAULT_LOCALE
    links = Links(public_url)
    context = {
        "campaign_title": campaign.title,
        "threshold": milestone.threshold,
        "label": mark(milestone).label(locale),
        "count": count,
        "campaign_url": links.campaign(campaign.slug),
        "milestones_url": f"{links.base_url.rstrip('/')}/dashboard/c/{campaign.slug}/milestones",
    }
    told = 0
    for name, sealed in await _addresses(session, campaign_id):
        try:
            address = kept.unseal(secret, kept.ORGANISER, sealed)
        except kept.Unreadable:
            log.warning("an organiser's kept address does not open: not told of a milestone")
            continue
        await outbox.enqueue_unrendered(
            session, template=TEMPLATE, to=address, locale=locale,
            context={**context, "name": name}, now=now,
        )  # fmt: skip
        told += 1
    return told


async def _addresses(session: AsyncSession, campaign_id: int) -> list[tuple[str, bytes]]:
    rows = await session.execute(
        select(Organiser.name, Organiser.notify_address)
        .join(CampaignOrganiser, CampaignOrganiser.organiser_id == Organiser.id)
        .where(CampaignOrganiser.campaign_id == campaign_id, Organiser.notify_address.is_not(None))
        .order_by(Organiser.id)
    )
    return [(name, sealed) for name, sealed in rows.all() if sealed is not None]
