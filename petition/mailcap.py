"""The daily cap of mails per address, counted in one atomic step on every database.

Each kind of mail has its own allowance, so that one kind cannot use up another: what signers
ask for (confirmations, reminders, manage links), copies of their data, and organisers' own
mail (invitations, password resets). The allowance is kept apart from the signatures and the
outbox, so that withdrawing a signature does not give an address a fresh day, and its row is
deleted when the day is over. Concurrent requests are counted one after the other: PostgreSQL
serialises them on the row (INSERT … ON CONFLICT DO UPDATE), SQLite has one writer.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, literal, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from petition import db
from petition.models import MailAllowance, UTCDateTime

DAY = timedelta(days=1)
SIGNER = "signer"
DATA_COPY = "data_copy"
ORGANISER = "organiser"
# Invitations and password resets to one organiser in a day: enough for a forgotten password
# and two campaigns' invitations, whoever typed the address.
ORGANISER_MAILS_PER_DAY = 5


def take_in(session: Session, recipient_hash: str, kind: str, cap: int, now: datetime) -> bool:
    """Count one more mail of `kind` to this address today; False, counting nothing, at the cap.

    For a synchronous session (a hot path's `run_sync`); `take` is the same, awaited."""
    values = {
        "recipient_hash": recipient_hash,
        "kind": kind,
        "day_started_at": now,
        "sent": 1,
        "now": now,
        "day_over_before": now - DAY,
        "cap": cap,
    }
    counted = session.scalar(_take(db.dialect_of(session)), values)
    return counted is not None and counted <= cap


take = db.awaited(take_in)


@functools.cache
def _take(dialect: str) -> ReturningInsert[Any]:
    """One more mail today, or a new day, unless the allowance is spent: one statement."""
    row = db.table(MailAllowance).c
    day_over = row.day_started_at <= bindparam("day_over_before", type_=UTCDateTime())
    return (
        db.upsert(dialect, MailAllowance)
        .on_conflict_do_update(
            index_elements=[row.recipient_hash, row.kind],
            set_={
                "sent": case((day_over, literal(1)), else_=row.sent + 1),
                "day_started_at": case(
                    (day_over, bindparam("now", type_=UTCDateTime())), else_=row.day_started_at
                ),
            },
            where=or_(day_over, row.sent < bindparam("cap")),
        )
        .returning(row.sent)
    )


async def take_for_organiser(session: AsyncSession, recipient_hash: str, now: datetime) -> bool:
    """The same, for an invitation or a password reset: their own, fixed allowance."""
    return await take(session, recipient_hash, ORGANISER, ORGANISER_MAILS_PER_DAY, now)


async def forget_ended(session: AsyncSession, now: datetime) -> int:
    """Delete the allowances whose day is over (they hold keyed address hashes)."""
    return db.rowcount(
        await session.execute(
            delete(MailAllowance).where(MailAllowance.day_started_at <= now - DAY)
        )
    )
