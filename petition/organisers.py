"""Organiser accounts: creation, one-time password links, login, server-side sessions, roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import tokens
from petition.models import (
    Campaign,
    CampaignOrganiser,
    Organiser,
    OrganiserSession,
    OrganiserToken,
    OrganiserTokenPurpose,
    Role,
)
from petition.passwords import Passwords
from petition.tokens import ExpiredLink, UnknownLink, UsedLink


class OrganiserExists(ValueError):
    """An organiser with this address exists already."""


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta


async def add(
    session: AsyncSession, *, secret: bytes, email: str, name: str, now: datetime
) -> Organiser:
    email_hash = tokens.email_hash(secret, email)
    if await find(session, secret=secret, email=email) is not None:
        raise OrganiserExists(name)
    organiser = Organiser(email_hash=email_hash, name=name, created_at=now)
    session.add(organiser)
    await session.flush()
    return organiser


async def find(session: AsyncSession, *, secret: bytes, email: str) -> Organiser | None:
    result = await session.execute(
        select(Organiser).where(Organiser.email_hash == tokens.email_hash(secret, email))
    )
    return result.scalar_one_or_none()


async def grant(
    session: AsyncSession, organiser: Organiser, campaign: Campaign, role: Role
) -> None:
    existing = await session.get(CampaignOrganiser, (campaign.id, organiser.id))
    if existing is None:
        session.add(
            CampaignOrganiser(campaign_id=campaign.id, organiser_id=organiser.id, role=role)
        )
    else:
        existing.role = role
    await session.flush()


async def campaigns_of(session: AsyncSession, organiser: Organiser) -> list[tuple[Campaign, Role]]:
    result = await session.execute(
        select(Campaign, CampaignOrganiser.role)
        .join(CampaignOrganiser, CampaignOrganiser.campaign_id == Campaign.id)
        .where(CampaignOrganiser.organiser_id == organiser.id)
        .order_by(Campaign.created_at.desc())
    )
    return [(campaign, role) for campaign, role in result.all()]


async def password_link(
    session: AsyncSession, organiser: Organiser, *, now: datetime, valid_for: timedelta
) -> str:
    """A new one-time token to choose a password; earlier unused ones stop working."""
    await session.execute(
        delete(OrganiserToken).where(
            OrganiserToken.organiser_id == organiser.id, OrganiserToken.used_at.is_(None)
        )
    )
    token = tokens.new_token()
    session.add(
        OrganiserToken(
            organiser_id=organiser.id,
            purpose=OrganiserTokenPurpose.SET_PASSWORD,
            token_hash=tokens.token_hash(token),
            created_at=now,
            expires_at=now + valid_for,
        )
    )
    await session.flush()
    return token


async def check_password_link(session: AsyncSession, token: str, now: datetime) -> Organiser:
    """The organiser a password link is for; raises a LinkError when it cannot be used."""
    if not tokens.looks_like_token(token):
        raise UnknownLink
    result = await session.execute(
        select(OrganiserToken, Organiser)
        .join(Organiser, OrganiserToken.organiser_id == Organiser.id)
        .where(OrganiserToken.token_hash == tokens.token_hash(token))
    )
    row = result.first()
    if row is None:
        raise UnknownLink
    link, organiser = row
    if link.used_at is not None:
        raise UsedLink
    if link.expires_at <= now:
        raise ExpiredLink
    return organiser


async def set_password(
    session: AsyncSession, passwords: Passwords, token: str, password: str, now: datetime
) -> Organiser:
    """Use a password link once; every open session of that organiser is closed."""
    organiser = await check_password_link(session, token, now)
    used = await session.execute(
        update(OrganiserToken)
        .where(OrganiserToken.token_hash == tokens.token_hash(token))
        .where(OrganiserToken.used_at.is_(None))
        .values(used_at=now)
    )
    if int(getattr(used, "rowcount", 0)) != 1:
        raise UsedLink
    organiser.password_hash = await passwords.hash(password)
    organiser.password_changed_at = now
    await session.execute(
        delete(OrganiserSession).where(OrganiserSession.organiser_id == organiser.id)
    )
    await session.flush()
    return organiser


async def authenticate(
    session: AsyncSession, passwords: Passwords, *, secret: bytes, email: str, password: str
) -> Organiser | None:
    """The organiser, when address and password match; the same work is done when they don't."""
    organiser = await find(session, secret=secret, email=email)
    stored = organiser.password_hash if organiser else None
    if not await passwords.verify(stored, password) or organiser is None or stored is None:
        return None
    if passwords.needs_rehash(stored):
        organiser.password_hash = await passwords.hash(password)
        await session.flush()
    return organiser


async def open_session(session: AsyncSession, organiser: Organiser, now: datetime) -> str:
    """A new session id for the cookie (never one the browser brought)."""
    token = tokens.new_token()
    session.add(
        OrganiserSession(
            organiser_id=organiser.id,
            token_hash=tokens.token_hash(token),
            created_at=now,
            last_seen_at=now,
        )
    )
    await session.flush()
    return token


async def current(
    session: AsyncSession, token: str, now: datetime, policy: SessionPolicy
) -> Organiser | None:
    """The organiser behind a session cookie, unless it is unknown, idle too long or too old."""
    if not tokens.looks_like_token(token):
        return None
    result = await session.execute(
        select(OrganiserSession, Organiser)
        .join(Organiser, OrganiserSession.organiser_id == Organiser.id)
        .where(OrganiserSession.token_hash == tokens.token_hash(token))
    )
    row = result.first()
    if row is None:
        return None
    record, organiser = row
    if now - record.last_seen_at > policy.idle or now - record.created_at > policy.absolute:
        await session.delete(record)
        await session.flush()
        return None
    # Refresh at most once a minute: a page view need not always be a write.
    if now - record.last_seen_at > timedelta(minutes=1):
        record.last_seen_at = now
        await session.flush()
    return organiser


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(
        delete(OrganiserSession).where(OrganiserSession.token_hash == tokens.token_hash(token))
    )
