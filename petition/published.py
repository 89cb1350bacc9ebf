"""What signers agreed to publish: the public list of signatories and its breakdowns.

Only confirmed signatures appear, and of each only what its signer chose: a name, a name and
role, or a name, role and organisation. Nothing here ever reads a field beyond that choice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from petition import spellings
from petition.models import (
    Campaign,
    CampaignTally,
    Grouping,
    Publication,
    Signature,
    SignatureStatus,
)

PAGE_SIZE = 50
BREAKDOWN_LIMIT = 50  # entries per breakdown; the rest are summed as "others"

_WITH_ROLE = (Publication.NAME_ROLE, Publication.NAME_ROLE_ORG)
_WITH_ORGANISATION = (Publication.NAME_ROLE_ORG,)


@dataclass(frozen=True, slots=True)
class Signatory:
    id: int
    first_name: str
    last_name: str
    role: str | None
    organisation: str | None
    confirmed_at: datetime
    # Shown only beside a published organisation: otherwise it would hint at a hidden one.
    verified: bool = False
    # The domain that verified it (never shown): lets a letter pack find an institution's staff.
    verified_domain: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    signatories: Sequence[Signatory]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Tally:
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Breakdown:
    published: int  # confirmed signatures whose signer agreed to show at least a name
    by_role: Sequence[Tally]
    other_roles: int
    by_organisation: Sequence[Tally]
    other_organisations: int


# The columns a published signatory is read from; `_signatory` applies the signer's choice.
_SHOWN = (
    Signature.id,
    Signature.first_name,
    Signature.last_name,
    Signature.role,
    Signature.organisation,
    Signature.publication,
    Signature.confirmed_at,
    Signature.affiliation_verified,
    Signature.email_domain,
)


def _signatory(row: Row[*tuple[Any, ...]]) -> Signatory:
    """A signatory as far as they chose to be shown, and never further."""
    choice: Publication = row.publication
    verified = bool(row.affiliation_verified) and choice.shows_organisation
    return Signatory(
        id=row.id,
        first_name=row.first_name or "",
        last_name=row.last_name or "",
        role=row.role if choice.shows_role else None,
        organisation=row.organisation if choice.shows_organisation else None,
        confirmed_at=row.confirmed_at,
        verified=verified,
        verified_domain=row.email_domain if verified else None,
    )


def _published(campaign_id: int) -> list[ColumnElement[bool]]:
    return [
        Signature.campaign_id == campaign_id,
        Signature.status == SignatureStatus.CONFIRMED,
        Signature.publication != Publication.NONE,
        Signature.last_name.is_not(None),  # erased by anonymisation: nobody left to name
    ]


async def signatories(
    session: AsyncSession, campaign_id: int, cursor: str | None = None, size: int = PAGE_SIZE
) -> Page:
    """Newest first, by pages that do not shift when people sign meanwhile (keyset pagination)."""
    query = (
        select(*_SHOWN)
        .where(*_published(campaign_id))
        .order_by(Signature.confirmed_at.desc(), Signature.id.desc())
        .limit(size + 1)
    )
    position = parse_cursor(cursor)
    if position is not None:
        query = query.where(tuple_(Signature.confirmed_at, Signature.id) < position)
    rows = (await session.execute(query)).all()
    shown = [_signatory(row) for row in rows[:size]]
    more = len(rows) > size
    return Page(shown, make_cursor(shown[-1]) if more and shown else None)


def make_cursor(last: Signatory) -> str:
    micros = int(last.confirmed_at.timestamp() * 1_000_000)
    return f"{micros}-{last.id}"


def parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The position after which a page starts; anything malformed means the first page."""
    if not cursor or len(cursor) > 40:
        return None
    micros, _, ident = cursor.partition("-")
    if not (micros.isdigit() and ident.isdigit()):
        return None
    try:
        instant = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # a date no calendar holds
        return None
    return instant, int(ident)


async def breakdown(
    session: AsyncSession, campaign_id: int, limit: int = BREAKDOWN_LIMIT
) -> Breakdown:
    """Counts by role and by organisation, of those who agreed to publish them (for an
    anonymised campaign: as they were when its personal data were erased)."""
    counted = await tallies(session, campaign_id)
    if counted is None:
        published = await session.scalar(select(func.count()).where(*_published(campaign_id)))
        by_role = await _grouped(session, campaign_id, Signature.role, _WITH_ROLE)
        by_organisation = await _grouped(
            session, campaign_id, Signature.organisation, _WITH_ORGANISATION
        )
        counted = (int(published or 0), by_role, by_organisation)
    published_count, by_role, by_organisation = counted
    roles, other_roles = _top(by_role, limit)
    organisations, other_organisations = _top(by_organisation, limit)
    return Breakdown(published_count, roles, other_roles, organisations, other_organisations)


async def keep_tallies(session: AsyncSession, campaign_id: int) -> None:
    """Before a campaign's personal data are erased: keep its published aggregates."""
    if await tallies(session, campaign_id) is not None:
        return
    published = await session.scalar(select(func.count()).where(*_published(campaign_id)))
    rows = [
        CampaignTally(
            campaign_id=campaign_id, dimension="published", label="", count=int(published or 0)
        )
    ]
    for dimension, column, choices in (
        ("role", Signature.role, _WITH_ROLE),
        ("organisation", Signature.organisation, _WITH_ORGANISATION),
    ):
        for label, count in spellings.merge(await _grouped(session, campaign_id, column, choices)):
            rows.append(
                CampaignTally(
                    campaign_id=campaign_id, dimension=dimension, label=label, count=count
                )
            )
    session.add_all(rows)
    await session.flush()


async def tallies(
    session: AsyncSession, campaign_id: int
) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]] | None:
    """The aggregates kept for an anonymised campaign, or None if none were kept."""
    result = await session.execute(
        select(CampaignTally.dimension, CampaignTally.label, CampaignTally.count).where(
            CampaignTally.campaign_id == campaign_id
        )
    )
    rows = result.all()
    if not rows:
        return None
    published = sum(count for dimension, _label, count in rows if dimension == "published")
    by_role = [(label, count) for dimension, label, count in rows if dimension == "role"]
    by_organisation = [
        (label, count) for dimension, label, count in rows if dimension == "organisation"
    ]
    return published, by_role, by_organisation


async def _grouped(
    session: AsyncSession,
    campaign_id: int,
    column: InstrumentedAttribute[str | None],
    choices: Sequence[Publication],
) -> list[tuple[str, int]]:
    result = await session.execute(
        select(column, func.count())
        .where(
            Signature.campaign_id == campaign_id,
            Signature.status == SignatureStatus.CONFIRMED,
            Signature.publication.in_(choices),
            column.is_not(None),
        )
        .group_by(column)
    )
    return [(str(value), int(count)) for value, count in result.all()]


def _top(counted: list[tuple[str, int]], limit: int) -> tuple[list[Tally], int]:
    """The `limit` most frequent names (spellings merged), and the sum of the others."""
    ranked = spellings.merge(counted)
    tallies = [Tally(label, total) for label, total in ranked[:limit]]
    return tallies, sum(total for _label, total in ranked[limit:])


@dataclass(frozen=True, slots=True)
class Group:
    label: str | None  # None: signatories who published no organisation (or no role)
    signatories: Sequence[Signatory]
    verified: int = 0  # of them, how many have a verified affiliation


async def letter_groups(session: AsyncSession, campaign_id: int, grouping: Grouping) -> list[Group]:
    """Every published signatory, grouped by organisation or role as far as each chose to show
    it; larger groups first, then by name; those without one close the list."""
    rows = (
        await session.execute(
            select(*_SHOWN)
            .where(*_published(campaign_id))
            .order_by(Signature.last_name, Signature.first_name, Signature.id)
        )
    ).all()
    groups: dict[str, list[Signatory]] = defaultdict(list)
    forms: defaultdict[str, Counter[str]] = defaultdict(Counter)
    loose: list[Signatory] = []
    for row in rows:
        signatory = _signatory(row)
        label = signatory.organisation if grouping is Grouping.ORGANISATION else signatory.role
        if label is None:
            loose.append(signatory)
            continue
        name = spellings.key(label)
        groups[name].append(signatory)
        forms[name][label] += 1
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    result = [
        Group(
            spellings.most_common(forms[name]),
            members,
            sum(1 for member in members if member.verified),
        )
        for name, members in ordered
    ]
    if loose:
        result.append(Group(None, loose))
    return result


async def letter(session: AsyncSession, campaign_id: int) -> list[Group]:
    """The letter's groups, as its campaign currently asks them grouped."""
    campaign = await session.get(Campaign, campaign_id)
    grouping = campaign.grouping if campaign is not None else Grouping.ORGANISATION
    return await letter_groups(session, campaign_id, grouping)
