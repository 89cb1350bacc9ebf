"""The transactional outbox: mail rows written with the change that causes them, sent afterwards.

A mail is queued in the same transaction as the signature it is about, so it exists exactly when
the signature does. The sender claims due rows with a short lease (SKIP LOCKED on PostgreSQL, so
several processes can drain one outbox), delivers them, and erases address and content as soon as
the mail is accepted or refused for good. Temporary failures wait with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition.db import SessionFactory
from petition.i18n import _
from petition.mail import (
    Attachment,
    Backend,
    PermanentMailError,
    RenderedMail,
    TemporaryMailError,
    build_message,
)
from petition.models import OutboxMail, OutboxStatus

log = logging.getLogger(__name__)

BATCH_SIZE = 50
# A claimed mail not finished within this time (process killed mid-send) becomes due again.
LEASE = timedelta(minutes=5)
# Erased mail is scrubbed from the database files at most this often (seconds).
SCRUB_INTERVAL = 2.0


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


async def discard_unsent(
    session: AsyncSession, signature_ids: Sequence[int], reason: str = "signature withdrawn"
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
    "attachment": None,
    "sending_since": None,
}
# Stored as the reason, and shown translated (it is a message id).
INTERRUPTED = _("interrupted while being sent: it may have left; check before sending again")


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    to: str
    mail: RenderedMail
    attempts: int
    attachment: Attachment | None = None
    at_most_once: bool = False


class Sender:
    """Drains the outbox in the background of a server process."""

    def __init__(
        self,
        sessions: SessionFactory,
        backend: Backend,
        *,
        sender_address: str,
        clock: Callable[[], datetime],
        after_erasure: Callable[[], Awaitable[None]],
        poll_interval: float,
        retry_base: float,
        retry_max: float,
    ) -> None:
        self._sessions = sessions
        self._backend = backend
        self._from = sender_address
        self._clock = clock
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
        """Finish the current batch, then return from run()."""
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
        pending = list(batch)
        try:
            async with self._backend.connect() as connection:
                while pending:
                    item = pending[0]
                    if item.at_most_once:
                        await self._mark_sending(item)
                    try:
                        message = build_message(
                            self._from,
                            item.to,
                            item.mail,
                            date=self._clock(),
                            attachment=item.attachment,
                        )
                        await connection.send(message)
                    except PermanentMailError as exc:
                        await self._finish(item, OutboxStatus.FAILED, str(exc))
                    except TemporaryMailError as exc:
                        await self._postpone(item, str(exc))
                    else:
                        await self._finish(item, OutboxStatus.SENT, None)
                    pending.pop(0)
        except TemporaryMailError as exc:
            for item in pending:
                await self._postpone(item, str(exc))
        self._erased |= len(pending) < len(batch)
        return len(batch) == BATCH_SIZE

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
                row.next_attempt_at = now + LEASE
                rows.append(row)
            return [
                _Claimed(
                    id=row.id,
                    to=row.to_address or "",
                    mail=RenderedMail(row.subject or "", row.body_text or "", row.body_html or ""),
                    attempts=row.attempts,
                    attachment=(
                        Attachment(
                            row.attachment_name or "attachment",
                            row.attachment,
                            # The type follows from the name we gave it (.pdf, .json).
                            mimetypes.guess_type(row.attachment_name or "")[0]
                            or "application/octet-stream",
                        )
                        if row.attachment is not None
                        else None
                    ),
                    at_most_once=row.at_most_once,
                )
                for row in rows
            ]

    async def _finish(self, item: _Claimed, status: OutboxStatus, error: str | None) -> None:
        if error:
            log.warning("mail %s refused for good: %s", item.id, _redact(error, item.to))
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == item.id)
                .values(
                    status=status,
                    attempts=item.attempts + 1,
                    sent_at=self._clock() if status is OutboxStatus.SENT else None,
                    last_error=_redact(error, item.to) if error else None,
                    **_ERASED,
                )
            )

    async def _mark_sending(self, item: _Claimed) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == item.id)
                .values(sending_since=self._clock())
            )

    async def _postpone(self, item: _Claimed, error: str) -> None:
        delay = min(self._retry_max, self._retry_base * 2**item.attempts)
        delay *= random.uniform(0.8, 1.2)  # noqa: S311  # jitter, not security
        log.info(
            "mail %s not sent (attempt %s): %s", item.id, item.attempts + 1, _redact(error, item.to)
        )
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == item.id)
                .values(
                    attempts=item.attempts + 1,
                    next_attempt_at=self._clock() + timedelta(seconds=delay),
                    last_error=_redact(error, item.to),
                    sending_since=None,  # refused before delivery: safe to try again
                )
            )


def _redact(error: str, address: str) -> str:
    # SMTP servers like to quote the address back; it must reach neither the logs nor the table.
    return error.replace(address, "<recipient>") if address else error
