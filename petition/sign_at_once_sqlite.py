"""New signatures on SQLite, a batch in five statements whatever its size.

PostgreSQL takes a batch in one statement (`petition.sign_at_once`); SQLite has no
data-modifying WITH, but a statement there costs what SQLAlchemy spends on it (about 50–90 µs,
bench/statement_cost.py), not a round trip. Five per signing (spend, signature, allowance,
links, mail) were most of a signing's CPU; five per batch are a few microseconds per signing.

Each statement inserts the batch's rows in one multi-row VALUES, in the steps and with the rules
of the PostgreSQL statement:

    spend       each proof of work, once (its primary key decides), RETURNING those spent now;
    signatures  each signature whose proof was fresh, or that had none (the unique constraint
                decides whether the address signed already), RETURNING the new ones;
    allowances  one more mail today for each new signature's address, unless its allowance is
                spent (`petition.mailcap`'s rule), RETURNING what each address has sent;
    links, mail the confirm and withdraw links and the outbox row of each mail allowed.

The statements go to the driver as they are (`exec_driver_sql`): their values are the columns'
own, as SQLAlchemy would bind them (`_stored`). The caller sends no two signings of the same
address, nor of the same proof.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from petition import mailcap
from petition.models import OutboxStatus, SignatureStatus, TokenPurpose, UTCDateTime

Row = dict[str, Any]  # a signing's values, as `petition.sign_at_once` builds them
Found = tuple[bool, int | None, int | None]  # proof fresh, new signature's id, mails sent today


async def sign_rows(session: AsyncSession, rows: Sequence[Row], cap: int) -> dict[int, Found]:
    """What each row (by its `n`) became: see `petition.sign_at_once.sign_all`."""
    connection = await session.connection()
    stored = _stored(connection)
    proofs = [r for r in rows if r["challenge_hash"] is not None]
    spent = set(await _column(connection, _SPEND, proofs, _spend_values(stored)))
    fresh = [r for r in rows if r["challenge_hash"] is None or r["challenge_hash"] in spent]
    returned = await _returned(connection, _SIGNATURES, fresh, _signature_values(stored))
    ids = {(campaign_id, email_hash): id_ for id_, campaign_id, email_hash in returned}
    new = [r for r in fresh if (r["campaign_id"], r["email_hash"]) in ids]
    counted = await _returned(connection, _ALLOWANCES, new, _allowance_values(stored), (cap,))
    sent: dict[str, int] = dict(counted)
    allowed = [r for r in new if sent.get(r["email_hash"], cap + 1) <= cap]
    signature_id = {r["n"]: ids[r["campaign_id"], r["email_hash"]] for r in new}
    mails = {r["n"]: sent[r["email_hash"]] for r in allowed}
    if allowed:
        links = [link for r in allowed for link in _links(r, signature_id[r["n"]], stored)]
        await _execute(connection, _LINKS, links)
        await _execute(connection, _MAIL, [_mail(r, signature_id[r["n"]], stored) for r in allowed])
    return {
        r["n"]: (
            r["challenge_hash"] is None or r["challenge_hash"] in spent,
            signature_id.get(r["n"]),
            mails.get(r["n"]),
        )
        for r in rows
    }


Stored = Callable[[datetime | None], Any]


def _stored(connection: AsyncConnection) -> Stored:
    """A datetime as the columns store it (SQLite keeps text)."""
    process = UTCDateTime().bind_processor(connection.dialect)
    if process is None:
        raise RuntimeError("a UTC datetime column binds through its own processor on SQLite")
    return process


def _spend_values(stored: Stored) -> Callable[[Row], tuple[Any, ...]]:
    return lambda r: (r["challenge_hash"], stored(r["challenge_expires_at"]))


def _signature_values(stored: Stored) -> Callable[[Row], tuple[Any, ...]]:
    def values(r: Row) -> tuple[Any, ...]:
        now = stored(r["now"])
        return (
            r["campaign_id"],
            SignatureStatus.PENDING.value,
            r["email_hash"],
            r["first_name"],
            r["last_name"],
            r["role"],
            r["organisation"],
            r["email_domain"],
            str(r["publication"]),
            r["locale"],
            r["consent_version"],
            now,
            now,
            None,  # quarantine_rule: under no rule
            r["affiliation_verified"],
            r["sealed"],
            r["sealed_key_id"],
        )

    return values


def _allowance_values(stored: Stored) -> Callable[[Row], tuple[Any, ...]]:
    return lambda r: (r["email_hash"], mailcap.SIGNER, stored(r["now"]), 1)


def _links(r: Row, signature_id: int, stored: Stored) -> list[tuple[Any, ...]]:
    now = stored(r["now"])
    return [
        (
            signature_id,
            TokenPurpose.CONFIRM.value,
            r["confirm_hash"],
            now,
            stored(r["confirm_expires_at"]),
        ),
        (signature_id, TokenPurpose.WITHDRAW.value, r["withdraw_hash"], now, None),
    ]


def _mail(r: Row, signature_id: int, stored: Stored) -> tuple[Any, ...]:
    now = stored(r["now"])
    return (
        signature_id,
        "confirm",
        r["to_address"],
        r["locale"],
        r["context"],
        OutboxStatus.PENDING.value,
        0,
        now,
        now,
        False,
    )


async def _column(
    connection: AsyncConnection,
    statement: Callable[[int], str],
    rows: Sequence[Row],
    values: Callable[[Row], tuple[Any, ...]],
) -> list[Any]:
    return [first for first, *_ in await _returned(connection, statement, rows, values)]


async def _returned(
    connection: AsyncConnection,
    statement: Callable[[int], str],
    rows: Sequence[Row],
    values: Callable[[Row], tuple[Any, ...]],
    after: tuple[Any, ...] = (),
) -> list[tuple[Any, ...]]:
    if not rows:
        return []
    parameters = _flat(map(values, rows)) + after
    result = await connection.exec_driver_sql(statement(len(rows)), parameters)
    return [tuple(row) for row in result]


async def _execute(
    connection: AsyncConnection, statement: Callable[[int], str], rows: list[tuple[Any, ...]]
) -> None:
    await connection.exec_driver_sql(statement(len(rows)), _flat(rows))


def _flat(rows: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
    return tuple(value for row in rows for value in row)


def _values(width: int) -> Callable[[int], str]:
    one = "(" + ", ".join("?" * width) + ")"
    return lambda count: ", ".join([one] * count)


def _statement(head: str, width: int, tail: str = "") -> Callable[[int], str]:
    """`head VALUES (?, …), … tail` for a number of rows."""
    values = _values(width)
    return lambda count: f"{head} VALUES {values(count)} {tail}"


_SPEND = _statement(
    "INSERT INTO spent_challenges (challenge_hash, expires_at)",
    2,
    "ON CONFLICT (challenge_hash) DO NOTHING RETURNING challenge_hash",
)
_SIGNATURES = _statement(
    "INSERT INTO signatures (campaign_id, status, email_hash, first_name, last_name, role, "
    "organisation, email_domain, publication, locale, consent_version, consented_at, "
    "created_at, quarantine_rule, affiliation_verified, sealed, sealed_key_id)",
    17,
    "ON CONFLICT (campaign_id, email_hash) DO NOTHING RETURNING id, campaign_id, email_hash",
)
# The day is over when it started a day or more before this mail: the stored text's date and
# time a day back, with its own fraction of a second (a day does not change it).
_DAY_OVER = (
    "allowance.day_started_at <= strftime('%Y-%m-%d %H:%M:%S', excluded.day_started_at, "
    "'-1 day') || substr(excluded.day_started_at, 20)"
)
# Its last value, after the rows', is the cap.
_ALLOWANCES = _statement(
    "INSERT INTO mail_allowances AS allowance (recipient_hash, kind, day_started_at, sent)",
    4,
    "ON CONFLICT (recipient_hash, kind) DO UPDATE SET "
    f"sent = CASE WHEN {_DAY_OVER} THEN 1 ELSE allowance.sent + 1 END, "
    f"day_started_at = CASE WHEN {_DAY_OVER} THEN excluded.day_started_at "
    "ELSE allowance.day_started_at END "
    f"WHERE {_DAY_OVER} OR allowance.sent < ? "
    "RETURNING recipient_hash, sent",
)
_LINKS = _statement(
    "INSERT INTO signature_tokens (signature_id, purpose, token_hash, created_at, expires_at)", 5
)
_MAIL = _statement(
    "INSERT INTO outbox (signature_id, template, to_address, locale, context, status, "
    "attempts, next_attempt_at, created_at, at_most_once)",
    10,
)
