"""Organiser accounts: creation, one-time password links, login, server-side sessions, roles."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import kept, tokens, totp
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

log = logging.getLogger(__name__)


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
    organiser = Organiser(
        email_hash=email_hash,
        name=name,
        created_at=now,
        notify_address=kept.seal(secret, kept.ORGANISER, email),
    )
    session.add(organiser)
    await session.flush()
    return organiser


async def find(session: AsyncSession, *, secret: bytes, email: str) -> Organiser | None:
    # Accounts made before provider rules (petition.mailboxes) hold the legacy hash. It is
    # tried first, so an address keeps the account it found before; the current hash then
    # finds accounts made since, whichever alias of the mailbox is typed.
    wanted = tokens.email_hashes(secret, email)
    result = await session.execute(select(Organiser).where(Organiser.email_hash.in_(wanted)))
    found = {organiser.email_hash: organiser for organiser in result.scalars()}
    return next((found[h] for h in wanted if h in found), None)


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
    session: AsyncSession,
    organiser: Organiser,
    *,
    now: datetime,
    valid_for: timedelta,
    void_earlier: bool = True,
) -> str:
    """A new one-time token to choose a password; earlier unused ones stop working, unless
    `void_earlier` is False (invitations: each campaign's invitation link works)."""
    if void_earlier:
        await _void_unused_links(session, organiser)
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


async def _void_unused_links(session: AsyncSession, organiser: Organiser) -> None:
    await session.execute(
        delete(OrganiserToken).where(
            OrganiserToken.organiser_id == organiser.id, OrganiserToken.used_at.is_(None)
        )
    )


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
    # The other links (another campaign's invitation, an earlier reset) have served their turn.
    await _void_unused_links(session, organiser)
    await session.execute(
        delete(OrganiserSession).where(OrganiserSession.organiser_id == organiser.id)
    )
    await session.flush()
    return organiser


@dataclass(frozen=True, slots=True)
class Verified:
    """An organiser whose password matched, with its new hash if the parameters changed."""

    organiser_id: int
    checked_hash: str
    new_hash: str | None


async def verify_password(
    passwords: Passwords, organiser: Organiser | None, password: str
) -> Verified | None:
    """The slow part of a login, with no database session held: the same work is done when
    the account is unknown, so that the time taken tells nothing."""
    stored = organiser.password_hash if organiser else None
    if not await passwords.verify(stored, password) or organiser is None or stored is None:
        return None
    new_hash = await passwords.hash(password) if passwords.needs_rehash(stored) else None
    return Verified(organiser.id, stored, new_hash)


async def sign_in(
    session: AsyncSession,
    verified: Verified,
    code: str,
    *,
    secret: bytes,
    now: datetime,
    address: str | None = None,
) -> str | None:
    """After the password: the second factor, if turned on, then a new session; its cookie.

    None if the code is wrong or used, or if the password changed since it was checked. The
    `address` signed in with is kept sealed for their campaigns' news (petition.kept).
    """
    organiser = await session.get(Organiser, verified.organiser_id, with_for_update=True)
    if organiser is None or organiser.password_hash != verified.checked_hash:
        return None
    if organiser.totp_secret is not None:
        try:
            shared = totp.unseal(totp.sealing_key(secret), organiser.totp_secret)
        except totp.UnreadableSecret:
            log.warning("organiser %s: two-factor secret unreadable, login refused", organiser.id)
            return None
        step = totp.verify(shared, code, now, organiser.totp_last_step)
        if step is None or not await _claim_step(session, organiser, step):
            return None
    if verified.new_hash is not None:
        organiser.password_hash = verified.new_hash
    if address is not None and kept_address(secret, organiser) != address:
        organiser.notify_address = kept.seal(secret, kept.ORGANISER, address)
    await session.flush()
    return await open_session(session, organiser, now)


def kept_address(secret: bytes, organiser: Organiser) -> str | None:
    """The address an organiser signed in with, kept sealed for their campaigns' news."""
    if organiser.notify_address is None:
        return None
    try:
        return kept.unseal(secret, kept.ORGANISER, organiser.notify_address)
    except kept.Unreadable:
        return None


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


async def role_on(session: AsyncSession, organiser: Organiser, campaign: Campaign) -> Role | None:
    """The organiser's role on a campaign, or None: then it is not theirs to see at all."""
    link = await session.get(CampaignOrganiser, (campaign.id, organiser.id))
    return link.role if link else None


async def enable_2fa(
    session: AsyncSession,
    organiser: Organiser,
    shared: str,
    code: str,
    *,
    server_secret: bytes,
    now: datetime,
) -> bool:
    """Turn on two-factor authentication once the organiser proves their app has the secret."""
    step = totp.verify(shared, code, now, None)
    if step is None:
        return False
    await session.execute(
        update(Organiser)
        .where(Organiser.id == organiser.id)
        .values(totp_secret=totp.seal(totp.sealing_key(server_secret), shared), totp_last_step=step)
    )
    return True


async def seal_clear_totp_secrets(session: AsyncSession, server_secret: bytes) -> int:
    """Seal the two-factor secrets stored in clear by earlier versions; how many there were."""
    key = totp.sealing_key(server_secret)
    found = await session.execute(select(Organiser).where(Organiser.totp_secret.is_not(None)))
    clear = [o for o in found.scalars() if o.totp_secret and not totp.is_sealed(o.totp_secret)]
    for organiser in clear:
        organiser.totp_secret = totp.seal(key, organiser.totp_secret or "")
    await session.flush()
    return len(clear)


async def _claim_step(session: AsyncSession, organiser: Organiser, step: int) -> bool:
    """Record a used time step, unless a concurrent login with the same code got there first."""
    claimed = await session.execute(
        update(Organiser)
        .where(
            Organiser.id == organiser.id,
            or_(Organiser.totp_last_step.is_(None), Organiser.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return int(getattr(claimed, "rowcount", 0)) == 1


class LastOwner(ValueError):
    """A campaign must keep at least one owner."""


async def team(session: AsyncSession, campaign: Campaign) -> list[tuple[Organiser, Role]]:
    result = await session.execute(
        select(Organiser, CampaignOrganiser.role)
        .join(CampaignOrganiser, CampaignOrganiser.organiser_id == Organiser.id)
        .where(CampaignOrganiser.campaign_id == campaign.id)
        .order_by(Organiser.name)
    )
    return [(organiser, role) for organiser, role in result.all()]


async def change_role(
    session: AsyncSession, campaign: Campaign, organiser_id: int, role: Role | None
) -> None:
    """Give another role, or none (`None` removes them from the campaign)."""
    link = await session.get(CampaignOrganiser, (campaign.id, organiser_id), with_for_update=True)
    if link is None:
        return
    if link.role is Role.OWNER and role is not Role.OWNER:
        owners = await session.scalar(
            select(func.count())
            .select_from(CampaignOrganiser)
            .where(
                CampaignOrganiser.campaign_id == campaign.id, CampaignOrganiser.role == Role.OWNER
            )
        )
        if (owners or 0) <= 1:
            raise LastOwner(campaign.slug)
    if role is None:
        await session.delete(link)
    else:
        link.role = role
    await session.flush()
