"""Verified affiliation: organisers say which email domains belong to which organisation; a
signer who confirms from such a domain and names that organisation is flagged as verified.
Only the flag is kept — the address never is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import spellings
from petition.models import Affiliation, Signature
from petition.tokens import normalise_email


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
    return True


async def remove(session: AsyncSession, campaign_id: int, domain: str) -> int:
    result = await session.execute(
        delete(Affiliation).where(
            Affiliation.campaign_id == campaign_id, Affiliation.domain == domain
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def verify(
    session: AsyncSession,
    signature_id: int,
    campaign_id: int,
    email_domain: str | None,
    organisation: str | None,
) -> bool:
    """At confirmation: does the signer's address domain belong to the organisation named?"""
    if not email_domain or not organisation:
        return False
    domain = email_domain
    candidates = {domain, *(domain.split(".", n)[-1] for n in range(1, domain.count(".")))}
    mapped = await session.execute(
        select(Affiliation.organisation).where(
            Affiliation.campaign_id == campaign_id, Affiliation.domain.in_(candidates)
        )
    )
    verified = any(spellings.same(org, organisation) for org in mapped.scalars())
    if verified:
        await session.execute(
            update(Signature)
            .where(Signature.id == signature_id)
            .values(affiliation_verified=True)
            .execution_options(synchronize_session=False)
        )
    return verified
