"""Signers' rights without an account: a mailed link to see, change, withdraw and get one's data.

Anyone may ask for the link for any address; the page answers the same whatever the address,
and the link goes to the address only, within the daily cap per address. The link shows every
signature of the address (by its keyed hash) across campaigns. A copy of one's data is mailed
to the address as JSON — never shown on the screen of whoever holds the link.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import mailcap, outbox, privacy, readers, tokens
from petition.mail import Attachment
from petition.models import (
    Campaign,
    ManageToken,
    PrivacyNotice,
    Signature,
    SignatureStatus,
    Subscription,
)
from petition.sealing import FIELDS
from petition.signing import SigningContext

MAIL = "manage"
DATA_MAIL = "my_data"
# Copies of one's data a day: only the holder of a mailed link can ask, for the address that
# received it, so they do not count toward the general cap (signing and links use it up).
DATA_MAILS_PER_DAY = 2


async def request_link(
    session: AsyncSession, address: str, locale: str, valid: timedelta, ctx: SigningContext
) -> bool:
    """Mail a link to manage the address's signatures, if it has any and is under its cap.

    Returns whether a mail was queued; the caller shows the same page either way.
    """
    hashes = tokens.email_hashes(ctx.secret, address)
    email_hash = hashes[-1]
    if not await signatures(session, hashes):
        return False
    if not await mailcap.take(session, email_hash, mailcap.SIGNER, ctx.mail_cap, ctx.now):
        return False
    token = tokens.new_token()
    session.add(
        ManageToken(
            email_hash=email_hash,
            # Signatures made before the mailbox rules hold the earlier hash of some addresses.
            legacy_email_hash=hashes[0] if len(hashes) > 1 else None,
            token_hash=tokens.token_hash(token),
            created_at=ctx.now,
            expires_at=ctx.now + valid,
        )
    )
    context: dict[str, object] = {
        "manage_url": ctx.links.manage(token),
        "expires_at": ctx.now + valid,
    }
    await outbox.enqueue(
        session,
        template=MAIL,
        to=address,
        mail=ctx.render_mail(MAIL, locale, context),
        now=ctx.now,
    )
    return True


Hashes = tuple[str, ...]  # the keyed hashes one address's signatures may hold


async def resolve(session: AsyncSession, token: str, now: datetime) -> Hashes:
    """The address hashes a manage link is for; raises a LinkError when it cannot be used."""
    if not tokens.looks_like_token(token):
        raise tokens.UnknownLink
    found = await session.scalar(
        select(ManageToken).where(ManageToken.token_hash == tokens.token_hash(token))
    )
    if found is None:
        raise tokens.UnknownLink
    if found.expires_at <= now:
        raise tokens.ExpiredLink
    if found.legacy_email_hash is not None:
        return (found.legacy_email_hash, found.email_hash)
    return (found.email_hash,)


@dataclass(frozen=True, slots=True)
class Signed:
    signature: Signature
    campaign: Campaign

    @property
    def notice_version(self) -> int | None:
        """The privacy notice it was signed under (None for consents recorded before them)."""
        return privacy.number(self.signature.consent_version)


async def signatures(session: AsyncSession, hashes: Hashes) -> list[Signed]:
    """Every signature of the address that still holds personal data, newest first."""
    result = await session.execute(
        select(Signature, Campaign)
        .join(Campaign, Signature.campaign_id == Campaign.id)
        .where(
            Signature.email_hash.in_(hashes),
            Signature.status != SignatureStatus.WITHDRAWN,
        )
        .order_by(Signature.created_at.desc())
    )
    return [Signed(signature, campaign) for signature, campaign in result.all()]


async def one(session: AsyncSession, hashes: Hashes, signature_id: int) -> Signed | None:
    """One of the address's signatures; None if it is not theirs (or gone)."""
    for signed in await signatures(session, hashes):
        if signed.signature.id == signature_id:
            return signed
    return None


def document(
    signed: list[Signed],
    notices: dict[tuple[int, str], PrivacyNotice],
    sealed_for: dict[int, list[str]] | None = None,
    news: dict[int, Subscription] | None = None,
) -> bytes:
    """Everything stored about the address, as JSON (the answer to an access request)."""
    entries = []
    for item in signed:
        s, c = item.signature, item.campaign
        notice = notices.get((c.id, s.consent_version))
        kept_for_news = (news or {}).get(s.id)
        entries.append(
            {
                "news": {
                    "email": "kept encrypted with a key derived from the server secret, to send"
                    " this campaign's news, until you unsubscribe",
                    "notice_version": kept_for_news.consent_version,
                    "asked_at": kept_for_news.consented_at.isoformat(),
                    "language": kept_for_news.locale,
                }
                if kept_for_news is not None
                else None,
                **_sealed(s, sealed_for or {}),
                "campaign": {"slug": c.slug, "title": c.title},
                "status": s.status.value,
                "first_name": s.first_name,
                "last_name": s.last_name,
                "role": s.role,
                "organisation": s.organisation,
                "email_domain": s.email_domain,
                "email": "not stored: only a keyed fingerprint (HMAC-SHA256) of it",
                "publication": s.publication.value,
                "affiliation_verified": s.affiliation_verified,
                "language": s.locale,
                "consent": {
                    "notice_version": s.consent_version,
                    "controller": notice.controller if notice else None,
                    "given_at": s.consented_at.isoformat(),
                },
                "signed_at": s.created_at.isoformat(),
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            }
        )
    body = {"signatures": entries}
    return json.dumps(body, ensure_ascii=False, indent=2).encode()


def _sealed(signature: Signature, sealed_for: dict[int, list[str]]) -> dict[str, object]:
    if signature.sealed is None:
        return {}
    hidden = [field for field in FIELDS if getattr(signature, field) is None]
    return {
        "sealed": {
            "fields": hidden,
            "note": "kept only in a box sealed to the campaign's readers: this server cannot"
            " read it",
            "readers": sealed_for.get(signature.sealed_key_id or 0, []),
        }
    }


async def mail_data(
    session: AsyncSession,
    hashes: Hashes,
    address: str,
    locale: str,
    ctx: SigningContext,
) -> bool:
    """Mail the address a copy of its data, if `address` is the one the link was sent to."""
    email_hash = hashes[-1]
    if tokens.email_hash(ctx.secret, address) != email_hash:
        return False
    if not await mailcap.take(session, email_hash, mailcap.DATA_COPY, DATA_MAILS_PER_DAY, ctx.now):
        return False
    found = await signatures(session, hashes)
    notices = await _notices(session, found)
    keys = {item.signature.sealed_key_id for item in found if item.signature.sealed_key_id}
    sealed_for = await readers.readers_of(session, keys)
    news = await _subscriptions(session, [item.signature.id for item in found])
    await outbox.enqueue(
        session,
        template=DATA_MAIL,
        to=address,
        mail=ctx.render_mail(DATA_MAIL, locale, {"count": len(found)}),
        now=ctx.now,
        attachment=Attachment(
            "my-signatures.json", document(found, notices, sealed_for, news), "application/json"
        ),
    )
    return True


async def _subscriptions(
    session: AsyncSession, signature_ids: list[int]
) -> dict[int, Subscription]:
    if not signature_ids:
        return {}
    result = await session.execute(
        select(Subscription).where(Subscription.signature_id.in_(signature_ids))
    )
    return {subscription.signature_id: subscription for subscription in result.scalars()}


async def _notices(
    session: AsyncSession, found: list[Signed]
) -> dict[tuple[int, str], PrivacyNotice]:
    campaign_ids = {item.campaign.id for item in found}
    if not campaign_ids:
        return {}
    result = await session.execute(
        select(PrivacyNotice).where(PrivacyNotice.campaign_id.in_(campaign_ids))
    )
    return {(n.campaign_id, privacy.label(n)): n for n in result.scalars()}
