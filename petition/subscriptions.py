"""Signers who asked to be kept informed of a campaign, and how they stop it.

Ticking "keep me informed" is a consent of its own, recorded with the notice in force. Only
then is the address kept, sealed with a key derived from the server secret (petition.kept), and
only a confirmed signature's is ever written to. It goes when they unsubscribe (a link in every
mail, one click, RFC 8058), when they withdraw, and when the campaign is anonymised; an
unsubscription is noted in the erasure journal, so that a restored backup forgets it again.

The unsubscribe link names the subscription and carries a keyed MAC of it, so no token is
stored: the MAC covers the random nonce of the sealed address, so a link of a subscription
that is gone never stops a later one that happens to reuse its id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from petition import db, journal, kept
from petition.models import Campaign, Signature, SignatureStatus, Subscription

NONCE_BYTES = 24  # the secret box's nonce, at the start of every sealed address
_MAC_CHARS = 32  # 192 bits of the MAC, base64url


def add_in(
    session: Session,
    *,
    secret: bytes,
    campaign_id: int,
    signature_id: int,
    address: str,
    locale: str,
    consent_version: str,
    now: datetime,
) -> None:
    """Keep the address of a signature that asked for news (in a signing's `run_sync`); a
    second request for the same signature keeps the first."""
    statement = (
        db.upsert(db.dialect_of(session), Subscription)
        .values(
            campaign_id=campaign_id,
            signature_id=signature_id,
            sealed_address=kept.seal(secret, kept.SUBSCRIBER, address),
            locale=locale,
            consent_version=consent_version,
            consented_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Subscription.__table__.c.signature_id])
    )
    session.execute(statement)


def token(secret: bytes, subscription: Subscription) -> str:
    """What the unsubscribe link carries: the subscription's id and its MAC."""
    return f"{subscription.id}.{_mac(secret, subscription.id, subscription.sealed_address)}"


def _mac(secret: bytes, subscription_id: int, sealed: bytes) -> str:
    key = hmac.new(secret, b"unsubscribe-link", hashlib.sha256).digest()
    message = f"{subscription_id}:".encode() + sealed[:NONCE_BYTES]
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:_MAC_CHARS]


@dataclass(frozen=True, slots=True)
class Found:
    subscription_id: int
    campaign: Campaign


async def find(session: AsyncSession, secret: bytes, link_token: str) -> Found | None:
    """The subscription a link stops, if the link is genuine and it still exists."""
    ident, _, mac = link_token.partition(".")
    if not ident.isdigit() or len(ident) > 18 or len(mac) != _MAC_CHARS:
        return None
    row = (
        await session.execute(
            select(Subscription, Campaign)
            .join(Campaign, Campaign.id == Subscription.campaign_id)
            .where(Subscription.id == int(ident))
        )
    ).first()
    if row is None:
        return None
    subscription, campaign = row
    expected = _mac(secret, subscription.id, subscription.sealed_address)
    if not hmac.compare_digest(expected, mac):
        return None
    return Found(subscription.id, campaign)


async def unsubscribe(
    session: AsyncSession, secret: bytes, link_token: str, now: datetime
) -> Campaign | None:
    """Stop the news a link is for, erasing the kept address; the campaign, or None if the
    link is not genuine or was used already (the page says the same either way)."""
    found = await find(session, secret, link_token)
    if found is None:
        return None
    signature = (
        await session.execute(
            select(Subscription.signature_id, Signature.email_hash)
            .join(Signature, Signature.id == Subscription.signature_id)
            .where(Subscription.id == found.subscription_id)
        )
    ).one()
    deleted = await session.execute(
        delete(Subscription).where(Subscription.id == found.subscription_id)
    )
    if db.rowcount(deleted) != 1:
        return None
    journal.note(
        session,
        journal.UNSUBSCRIPTION,
        found.campaign.id,
        [(signature.signature_id, signature.email_hash)],
        at=now,
    )
    return found.campaign


async def forget(session: AsyncSession, signature_ids: Sequence[int]) -> int:
    """Erase the kept addresses of these signatures (withdrawn, deleted, replayed); how many."""
    result = await session.execute(
        delete(Subscription).where(Subscription.signature_id.in_(signature_ids))
    )
    return db.rowcount(result)


async def forget_campaign(session: AsyncSession, campaign_id: int) -> int:
    """Erase every kept address of a campaign (anonymised); how many."""
    result = await session.execute(
        delete(Subscription).where(Subscription.campaign_id == campaign_id)
    )
    return db.rowcount(result)


def receiving(campaign_id: int) -> ColumnElement[bool]:
    """Who receives a campaign's news: its subscriptions whose signature is confirmed (with
    the join on `Signature` that `joined` makes)."""
    return and_(
        Subscription.campaign_id == campaign_id, Signature.status == SignatureStatus.CONFIRMED
    )


def joined(statement: Select[Any]) -> Select[Any]:
    return statement.join(Signature, Signature.id == Subscription.signature_id)


async def count(session: AsyncSession, campaign_id: int) -> int:
    """How many confirmed signers of the campaign receive its news."""
    statement = joined(select(func.count()).select_from(Subscription))
    result = await session.execute(statement.where(receiving(campaign_id)))
    return int(result.scalar_one())
