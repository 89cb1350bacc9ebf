"""A signing form received: its screening is judged, then it is recorded or quietly dropped.

The part that needs the database runs in the writer's batch (see petition.writer): spending the
proof of work, remembering a rule that fired, the signature and its mail; on PostgreSQL, a
submission under no rule does it all in one statement (petition.sign_at_once). What needs no
database (form checks, the proof's own check, limits) was done before, in the request.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from petition import db, defences, privacy, quarantine, sign_at_once, signing
from petition import pow as proof
from petition.defences import Defences, Screening
from petition.forms import SignatureForm
from petition.models import Campaign
from petition.settings import Settings


async def receive(
    session: AsyncSession,
    campaign: Campaign,
    form: SignatureForm,
    screening: Screening,
    *,
    notice: str | None,
    settings: Settings,
    locale: str,
    judge: Defences,
    ctx: signing.SigningContext,
) -> bool:
    """Record the submission as the defences decide; whether a mail was queued."""
    if notice is not None and screening.clean and db.dialect_of(session) == "postgresql":
        done = await sign_at_once.sign(
            session, campaign, form, locale, notice, screening.spend, ctx
        )
        if done is sign_at_once.Uncommon.SIGNED_ALREADY:
            return await signing.remind(session, campaign, form, locale, ctx)
        if done is not sign_at_once.Uncommon.REPLAYED:
            return done
        rule: str | None = proof.REPLAYED  # nothing was written: the long way, with the rule
    else:
        rule = await judge.assess(session, screening)
    if rule is not None:
        await quarantine.record_signal(session, campaign.id, rule, ctx.now)
    if rule in defences.FORGED:
        return False  # answered as for everyone, but nothing stored, nothing mailed
    if notice is None:  # a campaign made by a tool that wrote no notice: version 1, now
        notice = privacy.label(await privacy.current(session, campaign, settings, ctx.now))
    consent = signing.Consent(notice, rule)
    return await signing.sign(session, campaign, form, locale, consent, ctx)
