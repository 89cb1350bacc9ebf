"""The transactional outbox: mail rows written with the change that causes them, sent afterwards.

A mail is queued in the same transaction as the signature it is about, so it exists exactly when
the signature does. On the signing path it is not rendered there: its template, language and
values wait in the row (`enqueue_unrendered`), and the sender renders them. The sender claims due
rows with a short lease (SKIP LOCKED on PostgreSQL, so several processes can drain one outbox),
delivers a batch over one SMTP connection, and writes what became of the whole batch in one
transaction: mail accepted or refused for good is erased (address, content, values), temporary
failures wait with exponential backoff.

Crash safety: mail handed to the SMTP server is written down as sent only when its batch is.
A process killed in between leaves the batch's rows leased; they fall due again after LEASE and
leave a second time: at least once, never lost, as the one mail in flight always was. Rows
marked at_most_once (letters) are the exception: each is marked "being sent" in a commit of its
own before it is handed over and written down in another after, and one found so marked is
reported interrupted, never resent. A sender told to stop finishes the mail in hand, writes
its batch down and gives the rest back, due at once: stopping costs no lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from petition import db
from petition.db import SessionFactory
from petition.i18n import _
from petition.mail import (
    Attachment,
    Backend,
    Connection,
    PermanentMailError,
    RenderedMail,
    TemporaryMailError,
    compose,
    decode_context,
    encode_context,
)
from petition.models import OutboxMail, OutboxStatus

log = logging.getLogger(__name__)

BATCH_SIZE = 50
# A claimed mail not finished within this time (process killed mid-send) becomes due again.
LEASE = timedelta(minutes=5)
# A batch stops handing mail over after this long (a slow server), well inside its lease.
BATCH_TIME = LEASE.total_seconds() / 2
# Erased mail is scrubbed from the database files at most this often (seconds).
SCRUB_INTERVAL = 2.0

Render = Callable[[str, str, dict[str, object]], RenderedMail]


async def enqueue(
    session: AsyncSession,
    *,
    template: str,
    to: str,
    mail: RenderedMail,
    now: datetime,
    signature_id: int | None = None,
    attachment: Attachment | None = None,
    at_most_once: bool = False,
    not_before: datetime | None = None,
) -> OutboxMail:
    """Queue a mail in the caller's transaction; `not_before` paces a series of them."""
    row = OutboxMail(
        template=template,
        signature_id=signature_id,
        to_address=to,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=not_before or now,
        created_at=now,
        attachment_name=attachment.name if attachment else None,
        attachment=attachment.content if attachment else None,
        at_most_once=at_most_once,
    )
    session.add(row)
    await session.flush()
    return row


def enqueue_unrendered_in(
    session: Session,
    *,
    template: str,
    to: str,
    locale: str,
    context: Mapping[str, object],
    now: datetime,
    signature_id: int | None = None,
    update_batch_id: int | None = None,
    unsubscribe_url: str | None = None,
) -> None:
    """Queue a mail that the sender renders: one INSERT in the caller's transaction (a
    synchronous session: a hot path's `run_sync`; `enqueue_unrendered` is the same, awaited).

    The hot path's way: no rendering, no unit of work, nothing read back. `context` holds str,
    int, None and aware datetimes; the row `signature_id` names must have been flushed. A mail
    of a campaign's news names its batch and its one-click unsubscribe link.
    """
    extra: dict[str, object] = {}
    if update_batch_id is not None:
        extra["update_batch_id"] = update_batch_id
    if unsubscribe_url is not None:
        extra["unsubscribe_url"] = unsubscribe_url
    session.execute(
        _INSERT_UNRENDERED,
        {
            **extra,
            "template": template,
            "signature_id": signature_id,
            "to_address": to,
            "locale": locale,
            "context": encode_context(context),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "at_most_once": False,
        },
    )


enqueue_unrendered = db.awaited(enqueue_unrendered_in)


# Built once; the new id is not asked back (no RETURNING).
_INSERT_UNRENDERED = insert(db.table(OutboxMail)).inline()


WITHDRAWN = "signature withdrawn"  # why a mail about a withdrawn signature was not sent


async def discard_unsent(
    session: AsyncSession, signature_ids: Sequence[int], reason: str = WITHDRAWN
) -> None:
    """Drop mails not yet sent about signatures being erased, and their link to them."""
    await session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.signature_id.in_(signature_ids), OutboxMail.status == OutboxStatus.PENDING
        )
        .values(status=OutboxStatus.FAILED, last_error=reason, **_ERASED)
    )
    await session.execute(
        update(OutboxMail)
        .where(OutboxMail.signature_id.in_(signature_ids))
        .values(signature_id=None)
    )


_ERASED: dict[str, None] = {
    "to_address": None,
    "subject": None,
    "body_text": None,
    "body_html": None,
    "context": None,  # a first name, and links whose tokens act for the signer
    "attachment": None,
    "sending_since": None,
    "unsubscribe_url": None,  # acts for the subscriber, like a token
}
# Stored as the reason, and shown translated (it is a message id).
INTERRUPTED = _("interrupted while being sent: it may have left; check before sending again")


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    to: str
    attempts: int
    mail: RenderedMail | None  # None: rendered by the sender from the three fields below
    template: str = ""
    locale: str = ""
    context: str = "{}"
    attachment: Attachment | None = None
    at_most_once: bool = False
    unsubscribe: str | None = None  # a mail to a list: its one-click unsubscribe link


@dataclass(slots=True)
class _Outcomes:
    """What became of a batch's mails, to be written in one transaction."""

    finished: list[dict[str, object]] = field(default_factory=list)  # sent, or refused for good
    postponed: list[dict[str, object]] = field(default_factory=list)
    untried: list[dict[str, object]] = field(default_factory=list)  # out of time, or stopping

    def changes(self) -> list[dict[str, object]]:
        # Rows with the same columns side by side: one executemany for each kind.
        return [*self.finished, *self.postponed, *self.untried]


class Sender:
    """Drains the outbox in the background of a server or worker process."""

    def __init__(
        self,
        sessions: SessionFactory,
        backend: Backend,
        *,
        sender_address: str,
        clock: Callable[[], datetime],
        render: Render,
        after_erasure: Callable[[], Awaitable[None]],
        poll_interval: float,
        retry_base: float,
        retry_max: float,
    ) -> None:
        self._sessions = sessions
        self._backend = backend
        self._from = sender_address
        self._clock = clock
        self._render = render
        self._after_erasure = after_erasure
        self._poll_interval = poll_interval
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._wake = asyncio.Event()
        self._stopping = False
        self._erased = False
        self._last_scrub = 0.0

    def wake(self) -> None:
        """Called after a commit that queued mail, so it leaves now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the mail in hand, write down the batch, then return from run()."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                busy = await self.drain_once()
                await self._scrub_when_due(final=self._stopping)
            except Exception:
                # The database may be briefly unreachable; never let the sender die for good.
                log.exception("outbox sender failed; retrying shortly")
                busy = False
            if busy or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    async def drain_once(self) -> bool:
        """Send one batch of due mail; True when a full batch was found (more may wait)."""
        batch = await self._claim()
        if not batch:
            return False
        outcomes = _Outcomes()
        try:
            await self._deliver(batch, outcomes)
        finally:
            # Whatever ended the batch, what left is written down: unwritten, it leaves again.
            await self._record(outcomes)
        return len(batch) == BATCH_SIZE

    async def _deliver(self, batch: list[_Claimed], outcomes: _Outcomes) -> None:
        deadline = time.monotonic() + BATCH_TIME
        pending = list(reversed(batch))  # popped from the end: in the order claimed
        try:
            async with self._backend.connect() as connection:
                # Told to stop: the mail in hand is finished, the rest goes back (below).
                while pending and time.monotonic() < deadline and not self._stopping:
                    item = pending[-1]
                    if item.at_most_once:
                        # Its own outcome, at once: found marked after a crash, it is the one
                        # the server held then, not one of those that left before it.
                        alone = _Outcomes()
                        await self._send(connection, item, alone)
                        await self._record(alone)
                    else:
                        await self._send(connection, item, outcomes)
                    pending.pop()
        except TemporaryMailError as exc:  # no connection: none of the rest can leave now
            outcomes.postponed += [self._postponed(item, str(exc)) for item in pending]
            pending.clear()
        # Left when time ran out or the process stops: due again at once, here or elsewhere.
        outcomes.untried += [{"id": item.id, "next_attempt_at": self._clock()} for item in pending]

    async def _send(self, connection: Connection, item: _Claimed, outcomes: _Outcomes) -> None:
        try:
            mail = item.mail if item.mail is not None else self._rendered(item)
            if item.at_most_once:
                await self._mark_sending(item)
            await connection.send(
                compose(
                    self._from,
                    item.to,
                    mail,
                    date=self._clock(),
                    attachment=item.attachment,
                    unsubscribe=item.unsubscribe,
                )
            )
        except PermanentMailError as exc:
            outcomes.finished.append(self._finished(item, str(exc)))
        except TemporaryMailError as exc:
            outcomes.postponed.append(self._postponed(item, str(exc)))
        else:
            outcomes.finished.append(self._finished(item, None))

    def _rendered(self, item: _Claimed) -> RenderedMail:
        try:
            return self._render(item.template, item.locale, decode_context(item.context))
        except Exception as exc:
            # This mail is refused, the others leave. The type only: the text of a template's
            # error may quote a value, and values are personal.
            raise PermanentMailError(
                f"cannot render the {item.template} mail: {type(exc).__name__}"
            ) from exc

    async def _record(self, outcomes: _Outcomes) -> None:
        changes = outcomes.changes()
        if not changes:
            return
        async with self._sessions() as session, session.begin():
            # UPDATEs by primary key, sent to the database as executemany: one commit a batch.
            await session.execute(update(OutboxMail), changes)
        self._erased |= bool(outcomes.finished)

    async def _scrub_when_due(self, *, final: bool) -> None:
        # Folding the log in costs a checkpoint: under load, once per interval, not per batch.
        now = time.monotonic()
        if self._erased and (final or now - self._last_scrub >= SCRUB_INTERVAL):
            self._erased = False
            self._last_scrub = now
            await self._after_erasure()

    async def _claim(self) -> list[_Claimed]:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                select(OutboxMail)
                .where(OutboxMail.status == OutboxStatus.PENDING, OutboxMail.next_attempt_at <= now)
                .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
            rows = []
            for row in result.scalars():
                if row.at_most_once and row.sending_since is not None:
                    # Claimed and handed to the server before a crash: never again on our own.
                    row.status = OutboxStatus.FAILED
                    row.last_error = INTERRUPTED
                    for column, value in _ERASED.items():
                        setattr(row, column, value)
                    continue
                rows.append(row)
            if rows:  # the lease, in one statement for the batch rather than one per row
                await session.execute(
                    update(OutboxMail)
                    .where(OutboxMail.id.in_([row.id for row in rows]))
                    .values(next_attempt_at=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
            return [_claimed(row) for row in rows]

    async def _mark_sending(self, item: _Claimed) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == item.id)
                .values(sending_since=self._clock())
            )

    def _finished(self, item: _Claimed, error: str | None) -> dict[str, object]:
        """Sent (no error) or refused for good: either way, address and content go."""
        reason = None if error is None else _redact(error, item.to)
        if reason is not None:
            log.warning("mail %s refused for good: %s", item.id, reason)
        return {
            "id": item.id,
            "status": OutboxStatus.SENT if reason is None else OutboxStatus.FAILED,
            "attempts": item.attempts + 1,
            "sent_at": self._clock() if reason is None else None,
            "last_error": reason,
            **_ERASED,
        }

    def _postponed(self, item: _Claimed, error: str) -> dict[str, object]:
        delay = min(self._retry_max, self._retry_base * 2**item.attempts)
        delay *= random.uniform(0.8, 1.2)  # noqa: S311  # jitter, not security
        reason = _redact(error, item.to)
        log.info("mail %s not sent (attempt %s): %s", item.id, item.attempts + 1, reason)
        return {
            "id": item.id,
            "attempts": item.attempts + 1,
            "next_attempt_at": self._clock() + timedelta(seconds=delay),
            "last_error": reason,
            "sending_since": None,  # refused before delivery: safe to try again
        }


def _claimed(row: OutboxMail) -> _Claimed:
    unrendered = row.context is not None
    return _Claimed(
        id=row.id,
        to=row.to_address or "",
        attempts=row.attempts,
        mail=None
        if unrendered
        else RenderedMail(row.subject or "", row.body_text or "", row.body_html or ""),
        template=row.template,
        locale=row.locale or "",
        context=row.context or "{}",
        attachment=(
            Attachment(
                row.attachment_name or "attachment",
                row.attachment,
                # The type follows from the name we gave it (.pdf, .json).
                mimetypes.guess_type(row.attachment_name or "")[0] or "application/octet-stream",
            )
            if row.attachment is not None
            else None
        ),
        at_most_once=row.at_most_once,
        unsubscribe=row.unsubscribe_url,
    )


def _redact(error: str, address: str) -> str:
    # SMTP servers like to quote the address back; it must reach neither the logs nor the table.
    return error.replace(address, "<recipient>") if address else error
