"""A campaign's news, sent to the signers who asked for it, batch by batch through the outbox.

Organisers write an update (Markdown, in one language or several), look at it, send it to
themselves, then send it: it is marked "sending", and a scheduled job (`queue_due`) queues one
batch of each update being sent per period, in subscription order, until none is left. Each
batch is a row of its own; its mails name it, so the organisers' page shows, per batch, how many
left, wait or were refused. Only subscriptions of confirmed signatures receive anything, each
once: a batch takes the subscriptions after the last one queued, in the transaction that
records it. Every mail carries its own one-click unsubscribe link (petition.subscriptions).

The official petition's reminder (`remind_before_deadline`) is an update of its own kind, made
by the server once, a configured number of days before that petition's deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import campaigns, db, kept, outbox, subscriptions
from petition.forms import clean_text
from petition.i18n import _
from petition.models import (
    Campaign,
    CampaignUpdate,
    Organiser,
    OutboxMail,
    OutboxStatus,
    Subscription,
    UpdateBatch,
)
from petition.signing import Links

log = logging.getLogger(__name__)

DRAFT, SENDING, SENT = "draft", "sending", "sent"
NEWS, REMINDER = "update", "reminder"
LANGUAGES = ("fr", "en")  # the languages an update may be written in: the interface's
SUBJECT_MAX, BODY_MAX = 200, 20_000
TEMPLATES = {NEWS: "update", REMINDER: "official_reminder"}


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body_markdown: str


def parse(form: Mapping[str, str]) -> dict[str, Text] | dict[str, str]:
    """The texts of an update form (`subject_fr`, `body_fr`, ...): {language: Text}, or
    {field: message id} when something is wrong. One language at least, each one whole."""
    texts: dict[str, Text] = {}
    errors: dict[str, str] = {}
    for language in LANGUAGES:
        subject, subject_problem = clean_text(
            form.get(f"subject_{language}", ""), SUBJECT_MAX, required=False
        )
        body = form.get(f"body_{language}", "").strip()
        if not subject and not body:
            continue
        if subject_problem:
            errors[f"subject_{language}"] = subject_problem
        elif not subject:
            errors[f"subject_{language}"] = _("Give this language's version a subject too.")
        if not body:
            errors[f"body_{language}"] = _(
                "Write this language's version too, or leave both empty."
            )
        elif len(body) > BODY_MAX:
            errors[f"body_{language}"] = _("This text is too long.")
        if f"subject_{language}" not in errors and f"body_{language}" not in errors:
            texts[language] = Text(subject, body)
    if not texts and not errors:
        errors["subject_fr"] = _("Write the news in one language at least.")
    return errors if errors else texts


def _stored(texts: Mapping[str, Text]) -> dict[str, dict[str, str]]:
    return {
        language: {
            "subject": text.subject,
            "body_markdown": text.body_markdown,
            "body_html": campaigns.render_markdown(text.body_markdown),
        }
        for language, text in texts.items()
    }


async def draft(
    session: AsyncSession,
    campaign: Campaign,
    texts: Mapping[str, Text],
    organiser: Organiser | None,
    now: datetime,
) -> CampaignUpdate:
    news = CampaignUpdate(
        campaign_id=campaign.id,
        texts=_stored(texts),
        status=DRAFT,
        kind=NEWS,
        created_by=organiser.id if organiser is not None else None,
        created_at=now,
        queued_through=0,
    )
    session.add(news)
    await session.flush()
    return news


async def rewrite(session: AsyncSession, news: CampaignUpdate, texts: Mapping[str, Text]) -> bool:
    """Change a draft's texts; False once it is being sent (what left cannot change)."""
    changed = await session.execute(
        update(CampaignUpdate)
        .where(CampaignUpdate.id == news.id, CampaignUpdate.status == DRAFT)
        .values(texts=_stored(texts))
        .execution_options(synchronize_session="fetch")
    )
    return db.rowcount(changed) == 1


async def get(session: AsyncSession, campaign_id: int, update_id: int) -> CampaignUpdate | None:
    news = await session.get(CampaignUpdate, update_id)
    return news if news is not None and news.campaign_id == campaign_id else None


async def start(session: AsyncSession, news: CampaignUpdate, now: datetime) -> int | None:
    """Send a draft: from now on the job queues it batch by batch. How many signers it is for,
    or None if it was not a draft any more (sent twice from two tabs: once)."""
    started = await session.execute(
        update(CampaignUpdate)
        .where(CampaignUpdate.id == news.id, CampaignUpdate.status == DRAFT)
        .values(status=SENDING, sent_at=now)
    )
    if db.rowcount(started) != 1:
        return None
    return await subscriptions.count(session, news.campaign_id)


def version(news: CampaignUpdate, locale: str, campaign: Campaign) -> dict[str, str]:
    """The update's text for a reader of `locale`: theirs, else the campaign's language's,
    else the first written."""
    texts = news.texts
    for language in (locale, campaign.language, *LANGUAGES):
        if language in texts:
            return texts[language]
    return next(iter(texts.values()))


def mail_context(
    news: CampaignUpdate, campaign: Campaign, locale: str, links: Links, unsubscribe_url: str
) -> dict[str, object]:
    """The values an update's (or reminder's) mail is rendered with, for one reader."""
    context: dict[str, object] = {
        "campaign_title": campaign.title,
        "campaign_url": links.campaign(campaign.slug),
        "unsubscribe_url": unsubscribe_url,
    }
    if news.kind == REMINDER:
        return context | {
            "official_url": campaign.official_url,
            "official_platform": campaign.official_platform or "",
            "official_deadline": campaign.official_deadline,
        }
    text = version(news, locale, campaign)
    return context | {
        "subject": text["subject"],
        "body_text": text["body_markdown"],
        "body_html": text["body_html"],
    }


async def send_test(
    session: AsyncSession,
    news: CampaignUpdate,
    campaign: Campaign,
    *,
    to: str,
    locale: str,
    links: Links,
    now: datetime,
) -> None:
    """The update as its readers will get it, to one organiser (its unsubscribe link leads
    nowhere: no subscription is behind it)."""
    context = mail_context(news, campaign, locale, links, links.unsubscribe("test"))
    await outbox.enqueue_unrendered(
        session,
        template=TEMPLATES[news.kind],
        to=to,
        locale=locale,
        context=context,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class BatchStatus:
    number: int
    recipients: int
    queued_at: datetime
    sent: int = 0
    waiting: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class Progress:
    news: CampaignUpdate
    batches: list[BatchStatus] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return sum(b.recipients for b in self.batches)

    @property
    def sent(self) -> int:
        return sum(b.sent for b in self.batches)

    @property
    def refused(self) -> int:
        return sum(b.refused for b in self.batches)


async def listed(session: AsyncSession, campaign_id: int) -> list[Progress]:
    """The campaign's updates, newest first, with the status of each batch."""
    found = (
        await session.execute(
            select(CampaignUpdate)
            .where(CampaignUpdate.campaign_id == campaign_id)
            .order_by(CampaignUpdate.created_at.desc(), CampaignUpdate.id.desc())
        )
    ).scalars()
    news_list = list(found)
    if not news_list:
        return []
    batches = (
        await session.execute(
            select(UpdateBatch)
            .where(UpdateBatch.update_id.in_([n.id for n in news_list]))
            .order_by(UpdateBatch.number)
        )
    ).scalars()
    by_update: dict[int, list[UpdateBatch]] = {}
    for batch in batches:
        by_update.setdefault(batch.update_id, []).append(batch)
    tallies = await _mail_tallies(session, [b.id for bs in by_update.values() for b in bs])
    return [
        Progress(
            n,
            [
                BatchStatus(
                    b.number,
                    b.recipients,
                    b.queued_at,
                    sent=tallies.get((b.id, OutboxStatus.SENT), 0),
                    waiting=tallies.get((b.id, OutboxStatus.PENDING), 0),
                    refused=tallies.get((b.id, OutboxStatus.FAILED), 0),
                )
                for b in by_update.get(n.id, [])
            ],
        )
        for n in news_list
    ]


async def _mail_tallies(
    session: AsyncSession, batch_ids: Sequence[int]
) -> dict[tuple[int, OutboxStatus], int]:
    if not batch_ids:
        return {}
    rows = await session.execute(
        select(OutboxMail.update_batch_id, OutboxMail.status, func.count())
        .where(OutboxMail.update_batch_id.in_(batch_ids))
        .group_by(OutboxMail.update_batch_id, OutboxMail.status)
    )
    return {(batch_id or 0, status): int(n) for batch_id, status, n in rows.all()}


async def queue_batch(
    session: AsyncSession,
    news: CampaignUpdate,
    campaign: Campaign,
    *,
    size: int,
    secret: bytes,
    links: Links,
    now: datetime,
) -> int:
    """Queue the next batch of an update being sent; how many mails. The last batch (fewer
    than `size` left) marks it sent."""
    locked = await session.execute(
        select(CampaignUpdate.queued_through, CampaignUpdate.status)
        .where(CampaignUpdate.id == news.id)
        .with_for_update()
    )
    through, status = locked.one()
    if status != SENDING:
        return 0
    readers = list(
        (
            await session.execute(
                subscriptions.joined(select(Subscription))
                .where(subscriptions.receiving(campaign.id), Subscription.id > through)
                .order_by(Subscription.id)
                .limit(size)
            )
        ).scalars()
    )
    queued = 0
    if readers:
        number = await session.scalar(
            select(func.count()).select_from(UpdateBatch).where(UpdateBatch.update_id == news.id)
        )
        batch = UpdateBatch(
            update_id=news.id, number=int(number or 0) + 1, recipients=0, queued_at=now
        )
        session.add(batch)
        await session.flush()
        for reader in readers:
            try:
                address = kept.unseal(secret, kept.SUBSCRIBER, reader.sealed_address)
            except kept.Unreadable:
                log.warning("subscription %s: kept address unreadable, skipped", reader.id)
                continue
            unsubscribe_url = links.unsubscribe(subscriptions.token(secret, reader))
            await outbox.enqueue_unrendered(
                session,
                template=TEMPLATES[news.kind],
                to=address,
                locale=reader.locale,
                context=mail_context(news, campaign, reader.locale, links, unsubscribe_url),
                now=now,
                signature_id=reader.signature_id,
                update_batch_id=batch.id,
                unsubscribe_url=unsubscribe_url,
            )
            queued += 1
        batch.recipients = queued
    last = readers[-1].id if readers else through
    done = len(readers) < size
    await session.execute(
        update(CampaignUpdate)
        .where(CampaignUpdate.id == news.id)
        .values(queued_through=last, status=SENT if done else SENDING)
    )
    return queued


async def queue_due(
    session: AsyncSession, *, size: int, secret: bytes, links: Links, now: datetime
) -> int:
    """One batch of every update being sent; how many mails were queued."""
    sending = (
        await session.execute(
            select(CampaignUpdate, Campaign)
            .join(Campaign, Campaign.id == CampaignUpdate.campaign_id)
            .where(CampaignUpdate.status == SENDING)
            .order_by(CampaignUpdate.id)
        )
    ).all()
    queued = 0
    for news, campaign in sending:
        if campaign.anonymised_at is not None:  # its readers' addresses are gone with it
            news.status = SENT
            continue
        queued += await queue_batch(
            session, news, campaign, size=size, secret=secret, links=links, now=now
        )
    return queued


async def remind_before_deadline(session: AsyncSession, now: datetime) -> list[Campaign]:
    """Start the reminder of every official petition whose deadline is near: once each (the
    campaign's `official_reminded_at` is the claim). The campaigns reminded."""
    due = (
        await session.execute(
            select(Campaign).where(
                Campaign.official_url.is_not(None),
                Campaign.official_deadline.is_not(None),
                Campaign.official_reminder_days.is_not(None),
                Campaign.official_reminded_at.is_(None),
                Campaign.official_deadline > now,
                Campaign.anonymised_at.is_(None),
            )
        )
    ).scalars()
    reminded = []
    for campaign in list(due):
        assert campaign.official_deadline is not None  # noqa: S101  # selected so above
        days = campaign.official_reminder_days or 0
        if now < campaign.official_deadline - timedelta(days=days):
            continue
        claimed = await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id, Campaign.official_reminded_at.is_(None))
            .values(official_reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if db.rowcount(claimed) != 1:
            continue
        session.add(
            CampaignUpdate(
                campaign_id=campaign.id,
                texts={},
                status=SENDING,
                kind=REMINDER,
                created_at=now,
                sent_at=now,
                queued_through=0,
            )
        )
        reminded.append(campaign)
    await session.flush()
    return reminded
