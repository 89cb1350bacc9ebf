"""Verified affiliation: organisers say which email domains belong to which organisation; a
signer whose address is on such a domain (or under it) and who names that organisation is
flagged as verified. The flag is decided at signing, from the form as typed — on a sealed
campaign the organisation may be kept only in the sealed box afterwards — with the domains the
campaign's snapshot carries (no lookup per signature); a domain mapped later counts for later
signatures only. The flag counts once the signature is confirmed, and shows only beside a
published organisation (`petition.published`); a sealed signer who publishes an organisation
typed again keeps it only if their domain vouches for that one too (`signing.set_publication`).
Only the flag is kept — the address never is."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, spellings
from petition.models import Affiliation
from petition.tokens import normalise_email

# A campaign's mapped domains: each to the organisation it belongs to (one per domain).
Domains = Mapping[str, str]
NO_DOMAINS: Domains = MappingProxyType({})


def clean_domain(raw: str) -> str | None:
    """`CHU-Lyon.fr`, `@chu-lyon.fr` → `chu-lyon.fr`; None when it is not a domain name."""
    value = normalise_email(raw).removeprefix("@").strip(".")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(labels):
        return None
    try:
        value.encode("idna")
    except UnicodeError:
        return None
    if any(not (c.isalnum() or c in "-.") for c in value):
        return None
    return value


async def listed(session: AsyncSession, campaign_id: int) -> list[Affiliation]:
    result = await session.execute(
        select(Affiliation)
        .where(Affiliation.campaign_id == campaign_id)
        .order_by(Affiliation.organisation, Affiliation.domain)
    )
    return list(result.scalars())


async def add(
    session: AsyncSession, campaign_id: int, domain: str, organisation: str, now: datetime
) -> bool:
    """Map a domain to an organisation; False if the domain is mapped already."""
    exists = await session.scalar(
        select(Affiliation.id).where(
            Affiliation.campaign_id == campaign_id, Affiliation.domain == domain
        )
    )
    if exists is not None:
        return False
    session.add(
        Affiliation(
            campaign_id=campaign_id, domain=domain, organisation=organisation, created_at=now
        )
    )
    await session.flush()
    changes.record(session, campaign_id)  # every process's snapshot takes the new domain
    return True


async def remove(session: AsyncSession, campaign_id: int, domain: str) -> int:
    result = await session.execute(
        delete(Affiliation).where(
            Affiliation.campaign_id == campaign_id, Affiliation.domain == domain
        )
    )
    changes.record(session, campaign_id)
    return int(getattr(result, "rowcount", 0) or 0)


async def domains_of(session: AsyncSession, campaign_ids: Collection[int]) -> dict[int, Domains]:
    """The mapped domains of these campaigns (those without any are left out), in one query:
    for the campaigns' snapshot (`petition.live`)."""
    if not campaign_ids:
        return {}
    result = await session.execute(
        select(Affiliation.campaign_id, Affiliation.domain, Affiliation.organisation).where(
            Affiliation.campaign_id.in_(campaign_ids)
        )
    )
    found: dict[int, dict[str, str]] = {}
    for campaign_id, domain, organisation in result:
        found.setdefault(campaign_id, {})[domain] = organisation
    return {campaign_id: MappingProxyType(mapped) for campaign_id, mapped in found.items()}


def vouches(domains: Domains, address: str, organisation: str | None) -> bool:
    """Is the address's domain (or `address` itself, a bare domain), or a parent of it, mapped
    to the organisation named? Nothing is read: the campaign's domains come with its snapshot."""
    if not domains or not organisation:
        return False  # most campaigns map no domain: nothing more to do
    labels = address.rpartition("@")[2].split(".")
    for n in range(len(labels) - 1):  # the domain, then each parent of two labels or more
        mapped = domains.get(".".join(labels[n:]))
        if mapped is not None and spellings.same(mapped, organisation):
            return True
    return False
