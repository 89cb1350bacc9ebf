"""Confirmations in one PostgreSQL statement, however many arrive together.

The long way (`signing.confirm`) reads the link, updates the signature, marks the link used:
three round trips per confirmation, each a turn of the event loop for the whole batch
(`petition.sign_at_once` says why that matters). Here a batch's links go in as an array, and
one statement locks their signatures (first, as withdrawal does: one lock order), marks each
usable link used and confirms its pending signature — into quarantine if an anti-abuse rule
caught it when it was made. The counts are added by the caller, once per batch
(`counts.batched`).

What the statement does not decide goes the long way, in the same transaction, where it gets
its own answer: a link unknown, used, expired or for another purpose (the long way raises the
error the page shows), a second link of the same signature in the batch. (Verified
affiliations were decided at signing: confirming looks nothing up for them.) SQLite has no
data-modifying WITH: there the batch is three statements (`_confirm_all_sqlite`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from petition import counts, db, signing, tokens
from petition.models import SignatureStatus, TokenPurpose
from petition.writer import Rest, Together, Work


@dataclass(frozen=True, slots=True)
class Press:
    """A confirmation link pressed, and when."""

    token: str
    now: datetime


async def confirm_all(
    session: AsyncSession, presses: list[Press]
) -> list[signing.Confirmed | Rest[signing.Confirmed]]:
    """For each, in order: where to send the signer, or what is left to do the long way."""
    outcomes: list[signing.Confirmed | Rest[signing.Confirmed]] = [
        Rest(_long_way(press)) for press in presses
    ]
    chosen = [n for n, press in enumerate(presses) if tokens.looks_like_token(press.token)]
    if not chosen:
        return outcomes
    if db.dialect_of(session) != "postgresql":
        await _confirm_all_sqlite(session, presses, chosen, outcomes)
        return outcomes
    values = {
        "n": chosen,
        "token_hash": [tokens.token_hash(presses[n].token) for n in chosen],
        "now": [presses[n].now for n in chosen],
        "confirm": TokenPurpose.CONFIRM.value,
        "pending": SignatureStatus.PENDING.value,
        "confirmed": SignatureStatus.CONFIRMED.value,
        "quarantined": SignatureStatus.QUARANTINED.value,
    }
    for row in await session.execute(_STATEMENT, values):
        if row.new_status == SignatureStatus.CONFIRMED.value:
            await counts.add(session, row.campaign_id, +1)
        # A link of a signature confirmed already (by its other link): nothing more to count.
        outcomes[row.n] = signing.Confirmed(row.slug)
    return outcomes


async def _confirm_all_sqlite(
    session: AsyncSession,
    presses: list[Press],
    chosen: list[int],
    outcomes: list[signing.Confirmed | Rest[signing.Confirmed]],
) -> None:
    """The same on SQLite, in three statements: the links read, the signatures confirmed, the
    links used. Reading first is safe there: the writer's transaction holds the database's
    write lock from its start (BEGIN IMMEDIATE), so what was read stays so until it commits."""
    first: dict[str, int] = {}  # the same link twice: the second goes the long way
    for n in chosen:
        first.setdefault(tokens.token_hash(presses[n].token), n)
    found = await session.execute(
        signing.LINKS.where(signing.LINKS.selected_columns.token_hash.in_(list(first)))
    )
    links = {link.token_hash: link for link in found}
    signatures: set[int] = set()
    confirms: list[dict[str, object]] = []
    uses: list[dict[str, object]] = []
    for token_hash, n in first.items():
        link, now = links.get(token_hash), presses[n].now
        if (
            link is None
            or link.purpose is not TokenPurpose.CONFIRM
            or link.used_at is not None
            or (link.expires_at is not None and link.expires_at <= now)
            or link.signature_id in signatures
        ):
            continue  # the long way says what it is
        signatures.add(link.signature_id)
        uses.append({"token_id": link.token_id, "at": now})
        if link.status is SignatureStatus.PENDING:
            held = link.quarantine_rule is not None
            status = SignatureStatus.QUARANTINED if held else SignatureStatus.CONFIRMED
            confirms.append({"signature_id": link.signature_id, "new_status": status, "at": now})
            if not held:
                await counts.add(session, link.campaign_id, +1)
        outcomes[n] = signing.Confirmed(link.slug)
    if confirms:
        await session.execute(signing.CONFIRM, confirms)
    if uses:
        await session.execute(signing.USE_LINK, uses)


def _long_way(press: Press) -> Work[signing.Confirmed]:
    return functools.partial(signing.confirm, token=press.token, now=press.now)


# For the writer: links pressed together are confirmed together.
CONFIRMING: Together[Press, signing.Confirmed] = Together(confirm_all)

_STATEMENT = text("""
WITH input AS (
    SELECT * FROM unnest(
        CAST(:n AS integer[]), CAST(:token_hash AS text[]), CAST(:now AS timestamptz[])
    ) AS i(n, token_hash, now)
),
locked AS (
    SELECT signatures.id FROM signatures
    WHERE signatures.id IN (
        SELECT signature_tokens.signature_id FROM signature_tokens
        JOIN input USING (token_hash)
    )
    ORDER BY signatures.id
    FOR UPDATE
),
link AS (
    SELECT DISTINCT ON (signatures.id)
        input.n, input.now, signature_tokens.id AS token_id, signatures.id AS signature_id,
        signatures.quarantine_rule, signatures.campaign_id, campaigns.slug
    FROM input
    JOIN signature_tokens USING (token_hash)
    JOIN locked ON locked.id = signature_tokens.signature_id
    JOIN signatures ON signatures.id = locked.id
    JOIN campaigns ON campaigns.id = signatures.campaign_id
    WHERE signature_tokens.purpose = CAST(:confirm AS text)
        AND signature_tokens.used_at IS NULL
        AND (signature_tokens.expires_at IS NULL OR signature_tokens.expires_at > input.now)
    ORDER BY signatures.id, input.n
),
used AS (
    UPDATE signature_tokens SET used_at = link.now
    FROM link
    WHERE signature_tokens.id = link.token_id AND signature_tokens.used_at IS NULL
    RETURNING signature_tokens.id
),
confirmed AS (
    UPDATE signatures SET
        status = CASE WHEN link.quarantine_rule IS NULL
            THEN CAST(:confirmed AS text) ELSE CAST(:quarantined AS text) END,
        confirmed_at = link.now
    FROM link JOIN used ON used.id = link.token_id
    WHERE signatures.id = link.signature_id AND signatures.status = CAST(:pending AS text)
    RETURNING signatures.id, signatures.status
)
SELECT link.n, link.slug, link.campaign_id, confirmed.status AS new_status
FROM link
JOIN used ON used.id = link.token_id
LEFT JOIN confirmed ON confirmed.id = link.signature_id
""")
