"""New signatures in one PostgreSQL statement, however many arrive together.

On PostgreSQL every statement is a round trip to the server, a pass through the driver and
SQLAlchemy's async adapter, and a turn of the event loop while the answer comes: the batch
waits behind every request the loop serves meanwhile. A signing the long way
(`petition.signing`) costs five statements: spend the proof of work, insert the signature,
count the mail against the address's day, insert its two links, queue the mail; a batch of
twenty, a hundred. Side by side (bench/README.md): 532 signings/s with five statements each,
1,478/s with one statement per batch.

Here a whole batch is one statement: its signings go in as arrays (`unnest`), and each step is
a data-modifying WITH query reading what the one before it returned:

    spend   each proof of work, once (its primary key decides);
    sig     each signature whose proof was fresh, or that had none (the unique constraint
            decides whether the address signed already);
    cap     one more mail today for each new signature's address, unless its allowance is
            spent (`petition.mailcap`'s rule, its day written `interval '1 day'`);
    links, mail   the confirm and withdraw links and the outbox row of each mail allowed.

PostgreSQL runs every part once, in one snapshot; the foreign keys are checked at the end of
the statement, when the signatures exist. Rows go in in the order of their keys, so that two
lanes' batches wait for each other's rows in one order, not into a deadlock. For each signing,
the statement says which of the uncommon cases it met, for the caller to do the long way
(`petition.submission`): a proof spent already (nothing of it was written), an address that
signed already (only its proof was spent).
The caller sends no two signings of the same address, nor of the same proof.
SQLite has no data-modifying WITH: there, the same steps are five statements per batch
(`petition.sign_at_once_sqlite`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from petition import db, mailcap, sign_at_once_sqlite, signing, tokens
from petition.forms import SignatureForm
from petition.mail import encode_context
from petition.models import Campaign, OutboxStatus, SignatureStatus, TokenPurpose
from petition.pow import Spend


class Uncommon(enum.Enum):
    """What the statement left to do the long way."""

    REPLAYED = "replayed"  # the proof of work was spent already: nothing was written
    SIGNED_ALREADY = "signed_already"  # the proof was spent, and nothing else


@dataclass(frozen=True, slots=True)
class NewSignature:
    """A signing under no rule: a signature to make, its proof to spend, its mail to queue."""

    campaign: Campaign
    form: SignatureForm
    email_hash: str
    locale: str
    notice_version: str
    solution: Spend | None
    ctx: signing.SigningContext
    affiliated: bool  # its address vouches for the organisation typed (`Submission.affiliated`)


async def sign_all(session: AsyncSession, news: Sequence[NewSignature]) -> list[bool | Uncommon]:
    """For each, in order: whether a mail was queued (False at the address's daily cap), or
    the case it left."""
    if not news:
        return []
    caps = {new.ctx.mail_cap for new in news}
    if len(caps) != 1:
        raise ValueError("one daily cap for the signings of one statement")
    rows = [_row(n, new) for n, new in enumerate(news)]
    if db.dialect_of(session) == "postgresql":
        found = await _sign_rows(session, rows, caps.pop())
    else:
        found = await sign_at_once_sqlite.sign_rows(session, rows, caps.pop())
    outcomes: list[bool | Uncommon] = []
    for n in range(len(news)):
        fresh, signature_id, sent = found[n]
        if not fresh:
            outcomes.append(Uncommon.REPLAYED)
        elif signature_id is None:
            outcomes.append(Uncommon.SIGNED_ALREADY)
        else:
            outcomes.append(sent is not None)
    return outcomes


async def _sign_rows(
    session: AsyncSession, rows: list[dict[str, object]], cap: int
) -> dict[int, sign_at_once_sqlite.Found]:
    columns: dict[str, list[object]] = {name: [r[name] for r in rows] for name in _ARRAYS}
    values = columns | _CONSTANTS | {"cap": cap}
    result = await session.execute(_STATEMENT, values)
    return {row.n: (row.fresh, row.signature_id, row.sent) for row in result}


def _row(n: int, new: NewSignature) -> dict[str, object]:
    ctx = new.ctx
    consent = signing.Consent(new.notice_version, affiliated=new.affiliated)
    signature = signing.signature_row(
        new.campaign, new.form, new.email_hash, new.locale, consent, ctx.now
    )
    mail = signing.signer_mail("confirm", new.campaign, new.form, ctx)
    return {
        "n": n,
        "challenge_hash": new.solution.challenge_hash if new.solution else None,
        "challenge_expires_at": new.solution.expires_at if new.solution else None,
        "now": ctx.now,
        **{name: signature[name] for name in _SIGNATURE_FIELDS},
        "confirm_hash": tokens.token_hash(mail.links[TokenPurpose.CONFIRM]),
        "confirm_expires_at": mail.expires,
        "withdraw_hash": tokens.token_hash(mail.links[TokenPurpose.WITHDRAW]),
        "to_address": new.form.email,
        "context": encode_context(mail.context),
    }


_SIGNATURE_FIELDS = (
    "campaign_id",
    "email_hash",
    "first_name",
    "last_name",
    "role",
    "organisation",
    "email_domain",
    "publication",
    "locale",
    "consent_version",
    "affiliation_verified",
    "sealed",
    "sealed_key_id",
)
_TYPES = {
    "campaign_id": "integer",
    "affiliation_verified": "boolean",
    "sealed": "bytea",
    "sealed_key_id": "integer",
}
# Each signing's values, one array per column, and their PostgreSQL types.
_ARRAYS = {
    "n": "integer",
    "challenge_hash": "text",
    "challenge_expires_at": "timestamptz",
    "now": "timestamptz",
    **{name: _TYPES.get(name, "text") for name in _SIGNATURE_FIELDS},
    "confirm_hash": "text",
    "confirm_expires_at": "timestamptz",
    "withdraw_hash": "text",
    "to_address": "text",
    "context": "text",
}
_CONSTANTS = {
    "pending": SignatureStatus.PENDING.value,
    "signer": mailcap.SIGNER,
    "confirm": TokenPurpose.CONFIRM.value,
    "withdraw": TokenPurpose.WITHDRAW.value,
    "mail_pending": OutboxStatus.PENDING.value,
}
_UNNEST = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _ARRAYS.items())
_STATEMENT = text(f"""
WITH input AS (
    SELECT * FROM unnest({_UNNEST}) AS i({", ".join(_ARRAYS)})
),
spend AS (
    INSERT INTO spent_challenges (challenge_hash, expires_at)
    SELECT challenge_hash, challenge_expires_at FROM input
    WHERE challenge_hash IS NOT NULL
    ORDER BY challenge_hash
    ON CONFLICT (challenge_hash) DO NOTHING
    RETURNING challenge_hash
),
fresh AS (
    SELECT input.*,
        input.challenge_hash IS NULL
        OR input.challenge_hash IN (SELECT challenge_hash FROM spend) AS spent_now
    FROM input
),
sig AS (
    INSERT INTO signatures (
        campaign_id, status, email_hash, first_name, last_name, role, organisation,
        email_domain, publication, locale, consent_version, consented_at, created_at,
        quarantine_rule, affiliation_verified, sealed, sealed_key_id
    )
    SELECT campaign_id, CAST(:pending AS text), email_hash, first_name, last_name, role,
        organisation, email_domain, publication, locale, consent_version, now, now,
        NULL, affiliation_verified, sealed, sealed_key_id
    FROM fresh
    WHERE spent_now
    ORDER BY campaign_id, email_hash
    ON CONFLICT (campaign_id, email_hash) DO NOTHING
    RETURNING id, campaign_id, email_hash
),
new AS (
    SELECT fresh.*, sig.id FROM fresh JOIN sig USING (campaign_id, email_hash)
),
cap AS (
    INSERT INTO mail_allowances AS allowance (recipient_hash, kind, day_started_at, sent)
    SELECT email_hash, CAST(:signer AS text), now, 1 FROM new
    ORDER BY email_hash
    ON CONFLICT (recipient_hash, kind) DO UPDATE SET
        sent = CASE WHEN allowance.day_started_at <= excluded.day_started_at - interval '1 day'
            THEN 1 ELSE allowance.sent + 1 END,
        day_started_at = CASE
            WHEN allowance.day_started_at <= excluded.day_started_at - interval '1 day'
            THEN excluded.day_started_at ELSE allowance.day_started_at END
    WHERE allowance.day_started_at <= excluded.day_started_at - interval '1 day'
        OR allowance.sent < CAST(:cap AS integer)
    RETURNING recipient_hash, sent
),
allowed AS (
    SELECT new.*, cap.sent FROM new JOIN cap ON cap.recipient_hash = new.email_hash
    WHERE cap.sent <= CAST(:cap AS integer)
),
links AS (
    INSERT INTO signature_tokens (signature_id, purpose, token_hash, created_at, expires_at)
    SELECT id, CAST(:confirm AS text), confirm_hash, now, confirm_expires_at FROM allowed
    UNION ALL
    SELECT id, CAST(:withdraw AS text), withdraw_hash, now, NULL FROM allowed
),
mail AS (
    INSERT INTO outbox (
        signature_id, template, to_address, locale, context, status, attempts,
        next_attempt_at, created_at, at_most_once
    )
    SELECT id, 'confirm', to_address, locale, context, CAST(:mail_pending AS text), 0, now,
        now, false
    FROM allowed
)
SELECT fresh.n, fresh.spent_now AS fresh, new.id AS signature_id, allowed.sent
FROM fresh LEFT JOIN new USING (n) LEFT JOIN allowed USING (n)
""")  # noqa: S608  # the text formatted in is our own column names and types, no value
