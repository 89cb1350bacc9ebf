"""Retention, enforced: what the privacy notice promises to delete is deleted, on time.

- Signatures never confirmed: deleted `unconfirmed_days` after they were made.
- A campaign's personal data: erased `anonymise_after_days` after it closed; counts, statuses
  and the published aggregates (kept as tallies) remain.
- Anti-abuse signals, spent proof-of-work challenges, used or expired links and finished mail
  records: deleted `signals_days` after they were made (or as soon as they expired).

`purge` does everything in the caller's transaction and reports how many rows each step
touched; a dry run is the same transaction rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from petition import db, journal, mailcap, outbox, published, signing, subscriptions
from petition.models import (
    AbuseSignal,
    Addressee,
    Campaign,
    ManageToken,
    OrganiserToken,
    OutboxMail,
    OutboxStatus,
    PrivacyNotice,
    Signature,
    SignatureStatus,
    SignatureToken,
    SpentChallenge,
)
from petition.settings import Settings

DELETED = "signature deleted"  # why a mail about an expired signature was not sent


@dataclass(frozen=True, slots=True)
class Policy:
    unconfirmed: timedelta
    anonymise_after: timedelta
    signals: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            unconfirmed=timedelta(days=settings.unconfirmed_days),
            anonymise_after=timedelta(days=settings.anonymise_after_days),
            signals=timedelta(days=settings.signals_days),
        )


@dataclass(frozen=True, slots=True)
class Report:
    unconfirmed_deleted: int = 0
    campaigns_anonymised: int = 0
    signatures_anonymised: int = 0
    signals_deleted: int = 0
    challenges_deleted: int = 0
    links_deleted: int = 0
    mails_deleted: int = 0

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    @property
    def total(self) -> int:
        return sum(n for _name, n in self.items())


async def purge(session: AsyncSession, now: datetime, policy: Policy) -> Report:
    promised = await _shortest_promises(session)
    unconfirmed = await _delete_unconfirmed(session, now, policy.unconfirmed, promised)
    campaigns, signatures = await _anonymise_closed(session, now, policy.anonymise_after, promised)
    horizon = now - policy.signals
    signals = await _count(session, delete(AbuseSignal).where(AbuseSignal.created_at < horizon))
    challenges = await _count(
        session, delete(SpentChallenge).where(SpentChallenge.expires_at < now)
    )
    links = await _delete_links(session, now)
    mails = await _delete_mail_records(session, now, horizon)
    return Report(unconfirmed, campaigns, signatures, signals, challenges, links, mails)


async def _shortest_promises(session: AsyncSession) -> dict[int, tuple[timedelta, timedelta]]:
    """Per campaign, the shortest periods any of its privacy notices stated. Lengthening a
    period in the settings must not keep anyone longer than they were told."""
    result = await session.execute(
        select(
            PrivacyNotice.campaign_id,
            func.min(PrivacyNotice.unconfirmed_days),
            func.min(PrivacyNotice.anonymise_after_days),
        ).group_by(PrivacyNotice.campaign_id)
    )
    return {
        campaign_id: (timedelta(days=unconfirmed), timedelta(days=anonymise))
        for campaign_id, unconfirmed, anonymise in result.all()
    }


async def _delete_unconfirmed(
    session: AsyncSession,
    now: datetime,
    period: timedelta,
    promised: dict[int, tuple[timedelta, timedelta]],
) -> int:
    pending = await session.execute(
        select(
            Signature.id, Signature.campaign_id, Signature.created_at, Signature.email_hash
        ).where(
            Signature.status == SignatureStatus.PENDING,
            Signature.created_at < now - min([period, *(p[0] for p in promised.values())]),
        )
    )
    due: dict[int, list[tuple[int, str | None]]] = {}
    for ident, campaign_id, created_at, email_hash in pending.all():
        if created_at < now - min(period, promised.get(campaign_id, (period, period))[0]):
            due.setdefault(campaign_id, []).append((ident, email_hash))
    for campaign_id, rows in due.items():
        # Outside the database too: a restore from an older backup deletes them again.
        journal.note(session, journal.DELETION, campaign_id, rows, at=now)
    ids = [ident for rows in due.values() for ident, _hash in rows]
    await delete_signatures(session, ids)
    return len(ids)


async def delete_signatures(session: AsyncSession, ids: list[int]) -> None:
    """Delete these signatures, their links and the mail not yet sent about them."""
    for start in range(0, len(ids), 1000):  # bounded IN lists (asyncpg takes 32767 at most)
        chunk = ids[start : start + 1000]
        await outbox.discard_unsent(session, chunk, DELETED)
        await session.execute(delete(SignatureToken).where(SignatureToken.signature_id.in_(chunk)))
        await session.execute(delete(Signature).where(Signature.id.in_(chunk)))


async def _anonymise_closed(
    session: AsyncSession,
    now: datetime,
    period: timedelta,
    promised: dict[int, tuple[timedelta, timedelta]],
) -> tuple[int, int]:
    closed = await session.execute(
        select(Campaign).where(
            Campaign.closes_at.is_not(None),
            Campaign.closes_at < now,
            Campaign.anonymised_at.is_(None),
        )
    )
    campaigns = [
        c
        for c in closed.scalars()
        if c.closes_at is not None
        and c.closes_at < now - min(period, promised.get(c.id, (period, period))[1])
    ]
    erased = 0
    for campaign in campaigns:
        # Outside the database too: a restore from an older backup anonymises it again.
        journal.note(session, journal.ANONYMISATION, campaign.id, (), at=now)
        erased += await anonymise(session, campaign, now)
    await session.flush()
    return len(campaigns), erased


async def anonymise(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    """Erase a campaign's personal data, its published tallies kept; how many signatures."""
    await published.keep_tallies(session, campaign.id)
    ids = list(
        (
            await session.execute(select(Signature.id).where(Signature.campaign_id == campaign.id))
        ).scalars()
    )
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        await outbox.discard_unsent(session, chunk, DELETED)
        await session.execute(delete(SignatureToken).where(SignatureToken.signature_id.in_(chunk)))
    await subscriptions.forget_campaign(session, campaign.id)  # the addresses kept for news
    result = await session.execute(
        update(Signature)
        .where(
            Signature.campaign_id == campaign.id,
            # A sealed box may be all a row holds (a paper row that publishes nothing).
            Signature.email_hash.is_not(None)
            | Signature.first_name.is_not(None)
            | Signature.sealed.is_not(None),
        )
        .values(**signing.ERASED)
        .returning(Signature.id)
    )
    campaign.anonymised_at = now
    return len(result.all())


async def _delete_links(session: AsyncSession, now: datetime) -> int:
    """Links that can no longer be used. Withdrawal links never expire: they stay."""
    deleted = await _count(
        session,
        delete(SignatureToken).where(
            SignatureToken.expires_at.is_not(None), SignatureToken.expires_at < now
        ),
    )
    deleted += await _count(session, delete(ManageToken).where(ManageToken.expires_at < now))
    deleted += await _count(session, delete(OrganiserToken).where(OrganiserToken.expires_at < now))
    return deleted


async def _delete_mail_records(session: AsyncSession, now: datetime, horizon: datetime) -> int:
    """Daily mail allowances whose day is over; finished mail records after the signals
    period, except a letter's last mail, whose status its addressee shows."""
    await mailcap.forget_ended(session, now)
    shown = select(Addressee.outbox_id).where(Addressee.outbox_id.is_not(None))
    return await _count(
        session,
        delete(OutboxMail).where(
            OutboxMail.created_at < horizon,
            OutboxMail.status != OutboxStatus.PENDING,
            OutboxMail.id.not_in(shown),
        ),
    )


async def _count(session: AsyncSession, statement: Executable) -> int:
    return db.rowcount(await session.execute(statement))
