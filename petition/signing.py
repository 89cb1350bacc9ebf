"""Sign, confirm, withdraw. Functions take the session first, flush, and never commit."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from petition import (
    affiliations,
    counts,
    db,
    journal,
    mailcap,
    outbox,
    sealing,
    subscriptions,
    tokens,
)
from petition.forms import SignatureForm
from petition.mail import RenderedMail
from petition.models import (
    Campaign,
    Publication,
    Signature,
    SignatureStatus,
    SignatureToken,
    TokenPurpose,
)
from petition.tokens import ExpiredLink, UnknownLink, UsedLink

# Everything personal a signature holds, as it is after withdrawal or anonymisation.
ERASED: dict[str, object] = {
    "email_hash": None,
    "email_domain": None,
    "affiliation_verified": False,
    "first_name": None,
    "last_name": None,
    "role": None,
    "organisation": None,
    "sealed": None,
    "invalidation_reason": None,
    "quarantine_rule": None,
}

# Confirmed by their signer, counted or held: to the signer, both look the same.
CONFIRMED_BY_MAIL = frozenset({SignatureStatus.CONFIRMED, SignatureStatus.QUARANTINED})

# Renders a mail: (template name, locale, context) -> subject and bodies.
MailRenderer = Callable[[str, str, dict[str, object]], RenderedMail]


@dataclass(frozen=True, slots=True)
class Links:
    """Builds absolute links from the configured public address (never from the request)."""

    base_url: str

    def confirm(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/confirm/{token}"

    def withdraw(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/withdraw/{token}"

    def manage(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/manage/{token}"

    def campaign(self, slug: str) -> str:
        return f"{self.base_url.rstrip('/')}/c/{slug}"

    def unsubscribe(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/unsubscribe/{token}"


@dataclass(frozen=True, slots=True)
class SigningContext:
    """What signing needs beyond the session: secret, clock, limits, and how to write mail."""

    secret: bytes
    now: datetime
    token_ttl: timedelta
    mail_cap: int
    links: Links
    render_mail: MailRenderer


@dataclass(frozen=True, slots=True)
class Consent:
    """Under which privacy notice the signer consented, whether an anti-abuse rule caught the
    submission (it is then quarantined at confirmation, and nothing else changes), and whether
    their address vouches for the organisation they typed (`affiliations.vouches`, decided
    while that organisation is in clear; it counts once the signature is confirmed)."""

    notice_version: str
    quarantine_rule: str | None = None
    affiliated: bool = False


@dataclass(frozen=True, slots=True)
class _Signer:
    """The little of a signature that signing needs back."""

    id: int
    status: SignatureStatus


async def sign(
    session: AsyncSession,
    campaign: Campaign,
    form: SignatureForm,
    locale: str,
    consent: Consent,
    ctx: SigningContext,
) -> bool:
    """Record a signature or remind its owner; the caller shows the same page whatever happened.

    Returns whether a mail was queued (False when the address reached its daily cap). A new
    signature costs four statements: the signature (the unique constraint decides whether the
    address signed already), the mail allowance, both links, the outbox row. (On PostgreSQL,
    `petition.sign_at_once` makes them one.)
    """
    email_hash = tokens.email_hash(ctx.secret, form.email)
    # Its statements in one go of SQLAlchemy's synchronous world: each statement awaited on
    # its own costs the async layer's ~20 µs more (bench/statement_cost.py).
    return await session.run_sync(_sign, campaign, form, email_hash, locale, consent, ctx)


async def remind(
    session: AsyncSession, campaign: Campaign, form: SignatureForm, locale: str, ctx: SigningContext
) -> bool:
    """The mail to an address that signed this campaign already: its links again, or a new
    confirmation link while it is pending. Whether a mail was queued."""
    email_hash = tokens.email_hash(ctx.secret, form.email)
    return await session.run_sync(_remind, campaign, form, email_hash, locale, ctx)


def _sign(
    session: Session,
    campaign: Campaign,
    form: SignatureForm,
    email_hash: str,
    locale: str,
    consent: Consent,
    ctx: SigningContext,
) -> bool:
    row = signature_row(campaign, form, email_hash, locale, consent, ctx.now)
    new_id = session.scalar(_insert_signature(db.dialect_of(session)), row)
    if new_id is None:  # signed already, or at this very moment
        return _remind(session, campaign, form, email_hash, locale, ctx, consent)
    if form.keep_informed:
        _keep_informed(session, campaign, new_id, form, locale, consent, ctx)
    return _mail(session, "confirm", campaign, new_id, form, email_hash, locale, ctx)


def _keep_informed(
    session: Session,
    campaign: Campaign,
    signature_id: int,
    form: SignatureForm,
    locale: str,
    consent: Consent,
    ctx: SigningContext,
) -> None:
    subscriptions.add_in(
        session,
        secret=ctx.secret,
        campaign_id=campaign.id,
        signature_id=signature_id,
        address=form.email,
        locale=locale,
        consent_version=consent.notice_version,
        now=ctx.now,
    )


def _remind(
    session: Session,
    campaign: Campaign,
    form: SignatureForm,
    email_hash: str,
    locale: str,
    ctx: SigningContext,
    consent: Consent | None = None,
) -> bool:
    signer = _find(session, campaign.id, email_hash)
    if signer is None:
        return False
    # Asked for news while the signature waits for its confirmation: the link about to be
    # mailed confirms both. Once confirmed, a form (which anyone may fill in with any
    # address) does not subscribe it.
    if form.keep_informed and consent is not None and signer.status is SignatureStatus.PENDING:
        _keep_informed(session, campaign, signer.id, form, locale, consent, ctx)
    template = "already_signed" if signer.status in CONFIRMED_BY_MAIL else "confirm"
    return _mail(session, template, campaign, signer.id, form, email_hash, locale, ctx)


def _mail(
    session: Session,
    template: str,
    campaign: Campaign,
    signature_id: int,
    form: SignatureForm,
    email_hash: str,
    locale: str,
    ctx: SigningContext,
) -> bool:
    """Count the mail against the address's day, then queue it with its new links."""
    if not mailcap.take_in(session, email_hash, mailcap.SIGNER, ctx.mail_cap, ctx.now):
        return False
    mail = signer_mail(template, campaign, form, ctx)
    session.execute(_INSERT_TOKENS, mail.token_rows(signature_id, ctx.now))
    # Rendered by the sender, out of the request; erased with the address once sent.
    outbox.enqueue_unrendered_in(
        session,
        template=template,
        to=form.email,
        locale=locale,
        context=mail.context,
        now=ctx.now,
        signature_id=signature_id,
    )
    return True


def _find(session: Session, campaign_id: int, email_hash: str) -> _Signer | None:
    result = session.execute(
        select(Signature.id, Signature.status).where(
            Signature.campaign_id == campaign_id, Signature.email_hash == email_hash
        )
    )
    row = result.first()
    return _Signer(*row) if row is not None else None


def signature_row(
    campaign: Campaign,
    form: SignatureForm,
    email_hash: str,
    locale: str,
    consent: Consent,
    now: datetime,
) -> dict[str, object]:
    """The columns of a new, pending signature: on a sealed campaign, what is not published
    is only in the sealed box."""
    return {
        "campaign_id": campaign.id,
        "status": SignatureStatus.PENDING,
        "email_hash": email_hash,
        **_names(campaign, form),
        "email_domain": form.email.rpartition("@")[2],
        "publication": form.publication,
        "locale": locale,
        "consent_version": consent.notice_version,
        "consented_at": now,
        "created_at": now,
        "quarantine_rule": consent.quarantine_rule,
        "affiliation_verified": consent.affiliated,
    }


def form_fields(form: SignatureForm) -> dict[str, str | None]:
    return {
        "first_name": form.first_name,
        "last_name": form.last_name,
        "role": form.role,
        "organisation": form.organisation,
    }


def _names(campaign: Campaign, form: SignatureForm) -> dict[str, object]:
    typed = form_fields(form)
    if campaign.seal_public_key is None:
        return {**typed, "sealed": None, "sealed_key_id": None}
    return {
        **form.publication.shown(typed),
        "sealed": sealing.seal_fields(campaign.seal_public_key, typed),
        "sealed_key_id": campaign.seal_key_id,
    }


@functools.cache
def _insert_signature(dialect: str) -> ReturningInsert[Any]:
    """The unique constraint decides whether the address signed already: nothing is read."""
    columns = Signature.__table__.c
    return (
        db.upsert(dialect, Signature)
        .on_conflict_do_nothing(index_elements=[columns.campaign_id, columns.email_hash])
        .returning(columns.id)
    )


_INSERT_TOKENS = insert(db.table(SignatureToken))


@dataclass(frozen=True, slots=True)
class SignerMail:
    """A mail to a signer about their signature: its new links and what the sender renders."""

    links: dict[TokenPurpose, str]
    context: dict[str, object]
    expires: datetime

    def token_rows(self, signature_id: int, now: datetime) -> list[dict[str, object]]:
        """The links' rows (their hashes; the links themselves are only in the mail)."""
        return [
            {
                "signature_id": signature_id,
                "purpose": purpose,
                "token_hash": tokens.token_hash(token),
                "created_at": now,
                "expires_at": self.expires if purpose is TokenPurpose.CONFIRM else None,
            }
            for purpose, token in self.links.items()
        ]


def signer_mail(
    template: str, campaign: Campaign, form: SignatureForm, ctx: SigningContext
) -> SignerMail:
    """New links for a `confirm` (confirm and withdraw) or an `already_signed` mail (withdraw)."""
    links = {TokenPurpose.WITHDRAW: tokens.new_token()}
    if template == "confirm":
        links[TokenPurpose.CONFIRM] = tokens.new_token()
    expires = ctx.now + ctx.token_ttl
    context: dict[str, object] = {
        "campaign_title": campaign.title,
        "campaign_url": ctx.links.campaign(campaign.slug),
        "first_name": form.first_name,
        "withdraw_url": ctx.links.withdraw(links[TokenPurpose.WITHDRAW]),
    }
    if form.keep_informed and template == "confirm":
        context["keep_informed"] = True
    if TokenPurpose.CONFIRM in links:
        context |= {
            "confirm_url": ctx.links.confirm(links[TokenPurpose.CONFIRM]),
            # To the minute, as the mail shows it (the link may be used until `expires`): the
            # mails of the same minute share their shape (petition.mail_shapes).
            "expires_at": expires.replace(second=0, microsecond=0),
        }
    return SignerMail(links, context, expires)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a valid link points at, for the page that asks the signer to press the button."""

    token: SignatureToken
    signature: Signature
    campaign: Campaign


async def resolve(
    session: AsyncSession, token: str, purpose: TokenPurpose, now: datetime
) -> LinkTarget:
    """The signature a link is for; raises a LinkError subclass when it cannot be used."""
    if not tokens.looks_like_token(token):
        raise UnknownLink
    result = await session.execute(
        select(SignatureToken, Signature, Campaign)
        .join(Signature, SignatureToken.signature_id == Signature.id)
        .join(Campaign, Signature.campaign_id == Campaign.id)
        .where(SignatureToken.token_hash == tokens.token_hash(token))
    )
    row = result.first()
    if row is None or row[0].purpose is not purpose:
        raise UnknownLink
    link, signature, campaign = row
    if link.used_at is not None:
        raise UsedLink
    if link.expires_at is not None and link.expires_at <= now:
        raise ExpiredLink
    return LinkTarget(link, signature, campaign)


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What the page after a confirmation needs: where to send the signer."""

    campaign_slug: str


async def confirm(session: AsyncSession, token: str, now: datetime) -> Confirmed:
    """Confirm the signature behind a link, once; count it in the same transaction.

    Raises LinkError after possibly writing: the caller must roll back, as the request edge does.
    Columns, not objects: the hot path of a viral campaign, after signing.
    """
    if not tokens.looks_like_token(token):
        raise UnknownLink
    found = await session.execute(_CONFIRMING, {"token_hash": tokens.token_hash(token)})
    link = found.first()
    if link is None or link.purpose is not TokenPurpose.CONFIRM:
        raise UnknownLink
    if link.used_at is not None:
        raise UsedLink
    if link.expires_at is not None and link.expires_at <= now:
        raise ExpiredLink
    # Lock order, here as in withdraw: the signature row first, then its tokens, then a counter.
    # A signature an anti-abuse rule caught is confirmed into quarantine: held, not counted.
    held = link.quarantine_rule is not None
    confirmed = await session.execute(
        CONFIRM,
        {
            "signature_id": link.signature_id,
            "new_status": SignatureStatus.QUARANTINED if held else SignatureStatus.CONFIRMED,
            "at": now,
        },
    )
    used = await session.execute(USE_LINK, {"token_id": link.token_id, "at": now})
    if db.rowcount(used) != 1:
        raise UsedLink
    # A second link for an already confirmed signature confirms nothing more and counts nothing.
    if db.rowcount(confirmed) == 1 and not held:
        await counts.add(session, link.campaign_id, +1)
    return Confirmed(link.slug)


_TOKENS = db.table(SignatureToken).c
_SIGNATURES = db.table(Signature).c
# A confirmation link's row, with what confirming its signature needs.
LINKS = (
    select(
        _TOKENS.id.label("token_id"),
        _TOKENS.token_hash,
        _SIGNATURES.status,
        _TOKENS.purpose,
        _TOKENS.used_at,
        _TOKENS.expires_at,
        _SIGNATURES.id.label("signature_id"),
        _SIGNATURES.quarantine_rule,
        _SIGNATURES.campaign_id,
        db.table(Campaign).c.slug,
    )
    .join_from(db.table(SignatureToken), db.table(Signature))
    .join(db.table(Campaign))
)
_CONFIRMING = LINKS.where(_TOKENS.token_hash == bindparam("token_hash"))
# Both take a list of values too (one statement for many, `petition.confirm_at_once`).
CONFIRM = (
    update(db.table(Signature))
    .where(
        _SIGNATURES.id == bindparam("signature_id"),
        _SIGNATURES.status == SignatureStatus.PENDING,
    )
    .values(status=bindparam("new_status"), confirmed_at=bindparam("at"))
)
USE_LINK = (
    update(db.table(SignatureToken))
    .where(_TOKENS.id == bindparam("token_id"), _TOKENS.used_at.is_(None))
    .values(used_at=bindparam("at"))
)


class MustRetype(ValueError):
    """A sealed signature's signer chose to publish more: the server cannot read the sealed
    copy, so they type again what they now want shown."""


async def change_publication(
    session: AsyncSession,
    token: str,
    choice: Publication,
    now: datetime,
    retyped: Mapping[str, str] | None = None,
) -> LinkTarget:
    """What of the signer may be published, changed through their own link (kept usable)."""
    target = await resolve(session, token, TokenPurpose.WITHDRAW, now)
    if not await set_publication(session, target.signature, choice, now, retyped):
        raise UsedLink
    return target


async def set_publication(
    session: AsyncSession,
    signature: Signature,
    choice: Publication,
    now: datetime,
    retyped: Mapping[str, str] | None = None,
) -> bool:
    """Change a signer's publication choice; False for a withdrawn signature.

    The choice is part of the consent: its time is the time of the consent record. On a
    sealed signature, the clear columns follow it: what is no longer published is erased
    (the sealed copy keeps it for the readers), and what is newly published comes from
    `retyped`, or MustRetype is raised. A verified affiliation stays beside a retyped
    organisation only if the address's domain vouches for that one too.
    """
    if signature.status is SignatureStatus.WITHDRAWN:
        return False
    values: dict[str, object] = {"publication": choice, "consented_at": now}
    if signature.sealed is not None:
        shown = _clear_after(signature, choice, retyped or {})
        values |= shown
        organisation = shown["organisation"]
        if signature.affiliation_verified and organisation and signature.organisation is None:
            values["affiliation_verified"] = await _vouches_again(session, signature, organisation)
    await session.execute(update(Signature).where(Signature.id == signature.id).values(values))
    for column, value in values.items():
        setattr(signature, column, value)
    return True


async def _vouches_again(session: AsyncSession, signature: Signature, organisation: str) -> bool:
    """The flag was decided for the organisation typed at signing, which only the sealed box
    holds now: does the address's domain vouch for the one typed again?"""
    domains = await affiliations.domains_of(session, [signature.campaign_id])
    mapped = domains.get(signature.campaign_id, affiliations.NO_DOMAINS)
    return affiliations.vouches(mapped, signature.email_domain or "", organisation)


def _clear_after(
    signature: Signature, choice: Publication, retyped: Mapping[str, str]
) -> dict[str, str | None]:
    kept = {
        field: getattr(signature, field) or retyped.get(field) or None for field in sealing.FIELDS
    }
    shown = choice.shown(kept)
    if choice.shows_name and not (shown["first_name"] and shown["last_name"]):
        raise MustRetype
    return shown


async def withdraw(session: AsyncSession, token: str, now: datetime) -> LinkTarget:
    """Withdraw a signature through its mailed link."""
    target = await resolve(session, token, TokenPurpose.WITHDRAW, now)
    if not await erase(session, target.signature.id, target.campaign.id, now):
        raise UsedLink
    return target


async def erase(session: AsyncSession, signature_id: int, campaign_id: int, now: datetime) -> bool:
    """Uncount a signature and erase everything personal, keeping a bare tombstone.

    False if it was withdrawn already. The caller scrubs the database files afterwards.
    """
    # Lock the row first (the lock order of confirm too), and read the status it had.
    locked = await session.execute(
        select(Signature.status, Signature.email_hash)
        .where(Signature.id == signature_id)
        .with_for_update()
    )
    previous, email_hash = locked.one()
    if previous is SignatureStatus.WITHDRAWN:
        return False
    # Outside the database too: a restore from an older backup erases them again.
    journal.note(session, journal.WITHDRAWAL, campaign_id, [(signature_id, email_hash)], at=now)
    await tombstone(session, [signature_id], now)
    if previous is SignatureStatus.CONFIRMED:  # invalidated or quarantined ones were not counted
        await counts.add(session, campaign_id, -1)
    return True


async def tombstone(session: AsyncSession, signature_ids: Sequence[int], now: datetime) -> None:
    """Mark these signatures withdrawn and erase what was personal in them, their links and
    their unsent mail; counters and the journal are the caller's (erase, or a restore's replay)."""
    await session.execute(
        update(Signature)
        .where(Signature.id.in_(signature_ids))
        .values(status=SignatureStatus.WITHDRAWN, withdrawn_at=now, **ERASED)
    )
    await session.execute(
        delete(SignatureToken).where(SignatureToken.signature_id.in_(signature_ids))
    )
    await outbox.discard_unsent(session, signature_ids)
    await subscriptions.forget(session, signature_ids)
