"""A signing form received: its screening is judged, then it is recorded or quietly dropped.

The part that needs the database runs in the writer's batch (see petition.writer): spending the
proof of work, remembering a rule that fired, the signature and its mail. The submissions of a
batch under no rule are all done together (petition.sign_at_once: one statement on PostgreSQL,
five on SQLite); the others, and what that leaves, the long way (`receive`). What needs no database
(form checks, the proof's own check, limits) was done before, in the request.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from petition import affiliations, defences, privacy, quarantine, sign_at_once, signing, tokens
from petition import pow as proof
from petition.defences import Defences, Screening
from petition.forms import SignatureForm
from petition.models import Campaign
from petition.settings import Settings
from petition.writer import Rest, Together, Work


@dataclass(frozen=True, slots=True)
class Submission:
    """A signing form, parsed and screened, with what recording it needs."""

    campaign: Campaign
    form: SignatureForm
    screening: Screening
    notice: str | None  # the campaign's current privacy notice, when the snapshot knows it
    domains: affiliations.Domains  # the campaign's mapped domains, from the snapshot too
    settings: Settings
    locale: str
    judge: Defences
    ctx: signing.SigningContext

    @property
    def affiliated(self) -> bool:
        """Whether the address vouches for the organisation typed: decided while it is in clear
        (on a sealed campaign, the stored row may keep it only in the sealed box)."""
        return affiliations.vouches(self.domains, self.form.email, self.form.organisation)


async def receive(session: AsyncSession, submission: Submission) -> bool:
    """Record the submission as the defences decide; whether a mail was queued."""
    s = submission
    rule = await s.judge.assess(session, s.screening)
    if rule is not None:
        await quarantine.record_signal(session, s.campaign.id, rule, s.ctx.now)
    if rule in defences.FORGED:
        return False  # answered as for everyone, but nothing stored, nothing mailed
    notice = s.notice
    if notice is None:  # a campaign made by a tool that wrote no notice: version 1, now
        notice = privacy.label(await privacy.current(session, s.campaign, s.settings, s.ctx.now))
    consent = signing.Consent(notice, rule, affiliated=s.affiliated)
    return await signing.sign(session, s.campaign, s.form, s.locale, consent, s.ctx)


async def receive_all(
    session: AsyncSession, submissions: list[Submission]
) -> list[bool | Rest[bool]]:
    """A batch's submissions: those under no rule together, the others the long way."""
    outcomes: list[bool | Rest[bool]] = [Rest(_long_way(s)) for s in submissions]
    chosen: list[int] = []
    news: list[sign_at_once.NewSignature] = []
    addresses: set[str] = set()  # one daily allowance per address, whatever the campaign
    proofs: set[str] = set()
    for index, s in enumerate(submissions):
        # Asking for news (a minority) goes the long way, which keeps the address sealed.
        if s.notice is None or not s.screening.clean or s.form.keep_informed:
            continue
        # The same address or proof twice in a batch: the second goes the long way, after.
        address = tokens.email_hash(s.ctx.secret, s.form.email)
        spend = s.screening.spend
        if address in addresses or (spend is not None and spend.challenge_hash in proofs):
            continue
        addresses.add(address)
        if spend is not None:
            proofs.add(spend.challenge_hash)
        chosen.append(index)
        news.append(
            sign_at_once.NewSignature(
                s.campaign, s.form, address, s.locale, s.notice, spend, s.ctx, s.affiliated
            )
        )
    for index, done in zip(chosen, await sign_at_once.sign_all(session, news), strict=True):
        outcomes[index] = _after(submissions[index], done)
    return outcomes


def _after(s: Submission, done: bool | sign_at_once.Uncommon) -> bool | Rest[bool]:
    if done is sign_at_once.Uncommon.SIGNED_ALREADY:  # its proof is spent: a reminder
        return Rest(functools.partial(_remind, submission=s))
    if done is sign_at_once.Uncommon.REPLAYED:  # nothing was written: held, the long way
        replayed = dataclasses.replace(s.screening, spend=None, proof_rule=proof.REPLAYED)
        return Rest(_long_way(dataclasses.replace(s, screening=replayed)))
    return done


async def _remind(session: AsyncSession, submission: Submission) -> bool:
    s = submission
    return await signing.remind(session, s.campaign, s.form, s.locale, s.ctx)


def _long_way(submission: Submission) -> Work[bool]:
    return functools.partial(receive, submission=submission)


# For the writer: submissions that arrive together are recorded together.
SIGNING: Together[Submission, bool] = Together(receive_all)
