"""A new signature in one PostgreSQL statement.

On PostgreSQL every statement is a round trip to the server and a pass through the driver and
SQLAlchemy's async adapter: about 200 µs of the web process's CPU each (bench/README.md). A
signing costs five: spend the proof of work, insert the signature, count the mail against the
address's day, insert its two links, queue the mail. Here they are one statement whose parts
are data-modifying WITH queries, each reading what the one before it returned:

    spend   the proof of work, once (its primary key decides);
    sig     the signature, if the proof was fresh (the unique constraint decides whether the
            address signed already);
    cap     one more mail today for the address, if the signature is new and the day's
            allowance is not spent;
    links, mail   the confirm and withdraw links and the outbox row, if the mail was allowed.

PostgreSQL runs every part once, in one snapshot; the foreign keys are checked at the end of
the statement, when the signature exists. What the statement returns tells the caller which
of the uncommon cases it met, to be done the long way (`petition.submission`): a proof spent
already (nothing was written), an address that signed already (only the proof was spent).
SQLite has no data-modifying WITH; its statements cost microseconds there anyway
(`petition.sqlite_inline`).
"""

from __future__ import annotations

import enum
import functools

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from petition import db, mailcap, outbox, signing, tokens
from petition.forms import SignatureForm
from petition.models import (
    Campaign,
    MailAllowance,
    OutboxMail,
    Signature,
    SignatureToken,
    SpentChallenge,
    TokenPurpose,
    UTCDateTime,
)
from petition.pow import Spend


class Uncommon(enum.Enum):
    """What the statement left to the long way."""

    REPLAYED = "replayed"  # the proof of work was spent already: nothing was written
    SIGNED_ALREADY = "signed_already"  # the proof was spent, and nothing else


async def sign(
    session: AsyncSession,
    campaign: Campaign,
    form: SignatureForm,
    locale: str,
    notice_version: str,
    solution: Spend | None,
    ctx: signing.SigningContext,
) -> bool | Uncommon:
    """A new signature under no rule, its proof spent, its mail queued: in one statement.

    Whether a mail was queued (False at the address's daily cap), or the case it left.
    """
    email_hash = tokens.email_hash(ctx.secret, form.email)
    consent = signing.Consent(notice_version)
    mail = signing.signer_mail("confirm", campaign, form, ctx)
    values = _prefixed(
        "s_", signing.signature_row(campaign, form, email_hash, locale, consent, ctx.now)
    )
    # The statement gives each link the new signature's id.
    links = {row["purpose"]: row for row in mail.token_rows(0, ctx.now)}
    values |= _prefixed("c_", links[TokenPurpose.CONFIRM])
    values |= _prefixed("w_", links[TokenPurpose.WITHDRAW])
    row = outbox.unrendered_row("confirm", form.email, locale, mail.context, ctx.now, None)
    values |= _prefixed("o_", row)
    values |= {
        "m_recipient_hash": email_hash,
        "m_kind": mailcap.SIGNER,
        "m_now": ctx.now,
        "m_day_over_before": ctx.now - mailcap.DAY,
        "m_cap": ctx.mail_cap,
    }
    if solution is not None:
        values |= _prefixed("p_", solution.row())
    result = await session.execute(_statement(solution is not None), values)
    spent, signature_id, sent = result.one()
    if not spent:
        return Uncommon.REPLAYED
    if signature_id is None:
        return Uncommon.SIGNED_ALREADY
    return sent is not None and sent <= ctx.mail_cap


def _prefixed(prefix: str, row: dict[str, object]) -> dict[str, object]:
    return {prefix + name: value for name, value in row.items()}


_SPENT = db.table(SpentChallenge)
_SIGNATURES = db.table(Signature)
_ALLOWANCES = db.table(MailAllowance)
_TOKENS = db.table(SignatureToken)
_OUTBOX = db.table(OutboxMail)
_SIGNATURE_COLUMNS = (
    "campaign_id",
    "status",
    "email_hash",
    "first_name",
    "last_name",
    "role",
    "organisation",
    "email_domain",
    "publication",
    "locale",
    "consent_version",
    "consented_at",
    "created_at",
    "quarantine_rule",
    "affiliation_verified",
)
_TOKEN_COLUMNS = ("purpose", "token_hash", "created_at", "expires_at")
_OUTBOX_COLUMNS = (
    "template",
    "to_address",
    "locale",
    "context",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "at_most_once",
)


def _bind(prefix: str, table_columns: object, name: str) -> ColumnElement[object]:
    column = _column(table_columns, name)
    # A typed cast: in INSERT … SELECT, PostgreSQL takes a bare parameter for text.
    return bindparam(prefix + name, type_=column.type).label(name)


def _column(table_columns: object, name: str) -> ColumnElement[object]:
    return getattr(table_columns, name)  # type: ignore[no-any-return]  # a Table's columns


@functools.cache
def _statement(with_proof: bool) -> Select[int, int | None, int | None]:
    spend = (
        postgresql.insert(_SPENT)
        .values(
            challenge_hash=bindparam("p_challenge_hash"),
            expires_at=bindparam("p_expires_at", type_=UTCDateTime()),
        )
        .on_conflict_do_nothing(index_elements=[_SPENT.c.challenge_hash])
        .returning(_SPENT.c.challenge_hash)
        .cte("spend")
    )
    signature = select(*(_bind("s_", _SIGNATURES.c, name) for name in _SIGNATURE_COLUMNS))
    if with_proof:
        signature = signature.select_from(spend)  # a row only if the proof was fresh
    sig = (
        postgresql.insert(_SIGNATURES)
        .from_select(_SIGNATURE_COLUMNS, signature, include_defaults=False)
        .on_conflict_do_nothing(
            index_elements=[_SIGNATURES.c.campaign_id, _SIGNATURES.c.email_hash]
        )
        .returning(_SIGNATURES.c.id)
        .cte("sig")
    )
    cap = _allowance(sig)
    allowed = sig.join(cap, cap.c.sent <= bindparam("m_cap"))
    links = postgresql.insert(_TOKENS).from_select(
        ("signature_id", *_TOKEN_COLUMNS),
        union_all(
            *(
                select(
                    sig.c.id, *(_bind(prefix, _TOKENS.c, name) for name in _TOKEN_COLUMNS)
                ).select_from(allowed)
                for prefix in ("c_", "w_")
            )
        ),
    )
    mail = postgresql.insert(_OUTBOX).from_select(
        ("signature_id", *_OUTBOX_COLUMNS),
        select(sig.c.id, *(_bind("o_", _OUTBOX.c, name) for name in _OUTBOX_COLUMNS)).select_from(
            allowed
        ),
        include_defaults=False,
    )
    spent = select(func.count()).select_from(spend).scalar_subquery() if with_proof else literal(1)
    return select(
        spent.label("spent"),
        select(sig.c.id).scalar_subquery().label("signature_id"),
        select(cap.c.sent).scalar_subquery().label("sent"),
    ).add_cte(links.cte("links"), mail.cte("mail"))


def _allowance(sig: CTE) -> CTE:
    """`mailcap`'s upsert, for the new signature's address only."""
    row = _ALLOWANCES.c
    now = bindparam("m_now", type_=UTCDateTime())
    day_over = row.day_started_at <= bindparam("m_day_over_before", type_=UTCDateTime())
    new_day = select(
        bindparam("m_recipient_hash", type_=row.recipient_hash.type).label("recipient_hash"),
        bindparam("m_kind", type_=row.kind.type).label("kind"),
        now.label("day_started_at"),
        literal(1).label("sent"),
    ).select_from(sig)
    return (
        postgresql.insert(_ALLOWANCES)
        .from_select(("recipient_hash", "kind", "day_started_at", "sent"), new_day)
        .on_conflict_do_update(
            index_elements=[row.recipient_hash, row.kind],
            set_={
                "sent": case((day_over, literal(1)), else_=row.sent + 1),
                "day_started_at": case((day_over, now), else_=row.day_started_at),
            },
            where=or_(day_over, row.sent < bindparam("m_cap")),
        )
        .returning(row.sent)
        .cte("cap")
    )
