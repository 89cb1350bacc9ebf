"""Rows in a given state, written straight to the database: for tests about what follows."""

from __future__ import annotations

from datetime import datetime

from petition import counts, organisers, tokens, totp
from petition.db import SessionFactory
from petition.models import (
    Campaign,
    Organiser,
    Publication,
    Role,
    Signature,
    SignatureStatus,
)

SECRET = b"factories-have-no-secret-worth-keeping-000"


async def signature(
    sessions: SessionFactory,
    campaign: Campaign,
    *,
    status: SignatureStatus,
    at: datetime,
    first_name: str = "Marie",
    last_name: str = "Curie",
    role: str | None = "Médecin",
    organisation: str | None = "CHU de Lyon",
    email: str | None = None,
) -> Signature:
    """A pending or confirmed signature, counted as the application would count it."""
    address = email or f"{first_name}.{last_name}.{at.timestamp()}@example.org"
    row = Signature(
        campaign_id=campaign.id,
        status=status,
        email_hash=tokens.email_hash(SECRET, address),
        first_name=first_name,
        last_name=last_name,
        role=role,
        organisation=organisation,
        email_domain=address.rpartition("@")[2].lower(),
        publication=Publication.NAME,
        locale="fr",
        consent_version="test",
        consented_at=at,
        created_at=at,
        confirmed_at=at if status is SignatureStatus.CONFIRMED else None,
    )
    async with sessions() as session, session.begin():
        session.add(row)
        await session.flush()
        if status is SignatureStatus.CONFIRMED:
            await counts.add(session, campaign.id, +1)
    return row


async def organiser_with_role(
    sessions: SessionFactory,
    secret: bytes,
    campaign: Campaign,
    role: Role,
    *,
    email: str,
    name: str,
    password_hash: str,
    now: datetime,
    totp_secret: str | None = None,
) -> Organiser:
    async with sessions() as session, session.begin():
        organiser = await organisers.add(session, secret=secret, email=email, name=name, now=now)
        organiser.password_hash = password_hash
        organiser.totp_secret = (
            totp.seal(totp.sealing_key(secret), totp_secret) if totp_secret else None
        )
        await organisers.grant(session, organiser, campaign, role)
    return organiser
