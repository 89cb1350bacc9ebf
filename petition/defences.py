"""Quiet defences of the signing form. Nothing here refuses anyone: a submission that trips a
rule is answered and mailed like any other, and held in quarantine for organisers to judge.

In order: a honeypot field people never see; a signed stamp of when the form was shown (too
soon means a script); the proof of work, when the browser ran it; and limits per client
address and campaign, stricter for forms sent without the proof of work (no JavaScript).

A few rules only a forger can break — a stamp we never issued, a proof of work altered or made
for another campaign: no browser showing our form sends those. Such a submission is answered
exactly as the others, but nothing of it is stored and no mail is sent (`FORGED`). Whatever a
person can cause (a form left open for hours, an expired or repeated proof, no JavaScript, a
shared connection over the limits) is held in quarantine instead, for organisers to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from petition import pow as proof
from petition import stamps
from petition.i18n import _
from petition.limits import ClientKeys, Counter
from petition.settings import Settings

HONEYPOT = "website"  # the field's name: what a form-filling robot is keen to fill
STAMP = "shown"
POW = "altcha"
FORM_STAMP = "form_stamp"
FORM_EXPIRED = "form_expired"
FORGED = frozenset({FORM_STAMP, proof.INVALID, proof.OTHER_CAMPAIGN})
BURST = timedelta(minutes=10)
SUSTAINED = timedelta(days=1)
# Rule names (stored with signals and held signatures) and what organisers read about them
# (message ids, translated by pages).
RULES = {
    "honeypot": _("Filled in the field hidden from people"),
    "too_fast": _("Sent too soon after the form was shown"),
    FORM_STAMP: _("Form not shown by this site, or altered: not recorded"),
    FORM_EXPIRED: _("Form sent long after it was shown"),
    proof.INVALID: _("Proof of work wrong or altered: not recorded"),
    proof.EXPIRED: _("Proof of work expired"),
    proof.REPLAYED: _("Proof of work used twice"),
    proof.OTHER_CAMPAIGN: _("Proof of work made for another campaign: not recorded"),
    "burst": _("Too many signatures from one connection in 10 minutes"),
    "sustained": _("Too many signatures from one connection in 24 hours"),
}


@dataclass(frozen=True, slots=True)
class Screening:
    """What was found out about a submission before it reaches the database."""

    form_rule: str | None  # honeypot, stamp or timing: decided by the form alone
    proof_rule: str | None  # the proof of work sent is wrong, expired, or for another campaign
    spend: proof.Spend | None  # the good proof of work sent, if any, still to be spent
    over_limits: str | None  # burst or sustained, if this client is over a limit

    @property
    def clean(self) -> bool:
        """No rule broken so far: only the proof's one-time use is left to decide."""
        return self.form_rule is None and self.proof_rule is None and self.over_limits is None


@dataclass(frozen=True, slots=True)
class Defences:
    settings: Settings
    secret: bytes
    counter: Counter
    client_keys: ClientKeys

    def stamp(self, campaign_id: int, now: datetime) -> str:
        return stamps.issue(self.secret, f"sign:{campaign_id}", now)

    async def screen(
        self, campaign_id: int, form: Mapping[str, str], client: str, now: datetime
    ) -> Screening:
        """Everything but the proof of work's one-time use, which the database decides.

        Every submission counts toward the limits, whatever else it breaks.
        """
        worked = form.get(POW, "").strip()
        over = await self._over_limits(campaign_id, client, strict=not worked)
        form_rule = self._form_rule(campaign_id, form, now)
        if form_rule is not None or not worked:  # a proof is not looked at after the form's rule
            return Screening(form_rule, None, None, over)
        judged = proof.judge(self.secret, worked, campaign_id, now)
        if isinstance(judged, str):
            return Screening(None, judged, None, over)
        return Screening(None, None, judged, over)

    async def assess(self, session: AsyncSession, screening: Screening) -> str | None:
        """The rule this submission breaks, or None; a good proof of work is spent here."""
        if screening.form_rule is not None:
            return screening.form_rule
        if screening.proof_rule is not None:
            return screening.proof_rule
        if screening.spend is not None and not await proof.spend(session, screening.spend):
            return proof.REPLAYED
        return screening.over_limits

    def _form_rule(self, campaign_id: int, form: Mapping[str, str], now: datetime) -> str | None:
        if form.get(HONEYPOT, "").strip():
            return "honeypot"
        shown = stamps.shown_at(self.secret, f"sign:{campaign_id}", form.get(STAMP, ""))
        if shown is None:
            return FORM_STAMP
        if (now - shown).total_seconds() < self.settings.form_min_seconds:
            return "too_fast"
        if now - shown > timedelta(hours=self.settings.form_max_hours):
            return FORM_EXPIRED
        return None

    async def _over_limits(self, campaign_id: int, client: str, *, strict: bool) -> str | None:
        key = f"sign:{campaign_id}:{await self.client_keys.key(client)}"
        burst = await self.counter.hit(f"{key}:burst", BURST)
        sustained = await self.counter.hit(f"{key}:day", SUSTAINED)
        s = self.settings
        if burst > (s.nojs_burst_limit if strict else s.burst_limit):
            return "burst"
        if sustained > (s.nojs_sustained_limit if strict else s.sustained_limit):
            return "sustained"
        return None
