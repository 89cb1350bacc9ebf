"""The audit log: who did what to a campaign and its signers' data, when, and to how many."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit_details
from petition.i18n import _
from petition.models import AuditEntry, Campaign, Organiser

COMMAND_LINE = "command line"

# What the log page says of each action (message ids, translated where rendered); the stored
# name stays the same in every language.
ACTIONS = {
    "create": _("created the campaign"),
    "edit": _("edited the campaign"),
    "close": _("closed the campaign"),
    "reopen": _("reopened the campaign"),
    "export": _("exported signatures"),
    "invalidate": _("invalidated signatures"),
    "restore": _("restored signatures"),
    "release": _("released signatures from quarantine"),
    "map domain": _("mapped a domain to an organisation"),
    "unmap domain": _("removed a domain mapping"),
    "add organiser": _("added an organiser"),
    "change organiser": _("changed an organiser's role"),
    "four eyes": _("changed the four-eyes approval of sealed exports"),
    "four eyes back on": _(
        "turned four-eyes approval back on, as the campaign has more than one organiser"
    ),
    "share keys": _("shared sealed signatures with readers"),
    "update draft": _("wrote news for the signers who asked for it"),
    "update test": _("sent news to themselves as a test"),
    "update send": _("sent news to the signers who asked for it"),
    "export request": _("asked for a sealed export"),
    "export approval": _("approved a sealed export"),
    "export refusal": _("refused a sealed export"),
    "import addressees": _("imported addressees"),
    "test letter": _("sent a test letter"),
    "send letter": _("sent the letter"),
    "add milestone": _("added a milestone"),
    "change milestone": _("changed what a milestone means"),
    "remove milestone": _("removed a milestone"),
    "paper batch": _("recorded signatures counted on paper"),
    "paper import": _("imported named paper signatures"),
    "paper correction": _("corrected a batch of paper signatures"),
    "paper deletion": _("deleted a batch of paper signatures"),
    "add version": _("added a version of the text in another language"),
    "edit version": _("changed a version of the text in another language"),
    "remove version": _("removed a version of the text in another language"),
    "official petition": _("changed the official petition's settings"),
    "official count": _("entered the official petition's count"),
    "official read": _("read the official petition's count from its feed"),
}


async def record(
    session: AsyncSession,
    campaign: Campaign,
    organiser: Organiser | None,
    action: str,
    details: Mapping[str, object],
    rows: int,
    now: datetime,
) -> None:
    """Write one entry, in the transaction of the action it records."""
    session.add(
        AuditEntry(
            campaign_id=campaign.id,
            organiser_id=organiser.id if organiser else None,
            actor=organiser.name if organiser else COMMAND_LINE,
            action=action,
            details=dict(details),
            rows=rows,
            created_at=now,
        )
    )
    await session.flush()


@dataclass(frozen=True, slots=True)
class Line:
    """An entry as the log page shows it."""

    created_at: datetime
    actor: str
    action: str
    details: Mapping[str, object]
    rows: int

    def describe(self, locale: str, tz: str) -> list[str]:
        """The details as phrases; called by the page, while its catalog is in use."""
        return audit_details.describe(self.details, locale=locale, tz=tz)


async def latest(session: AsyncSession, campaign: Campaign, limit: int = 100) -> list[Line]:
    result = await session.execute(
        select(AuditEntry)
        .where(AuditEntry.campaign_id == campaign.id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    entries = list(result.scalars())
    names = await _member_names(session, entries)
    return [
        Line(entry.created_at, entry.actor, entry.action, _named(entry.details, names), entry.rows)
        for entry in entries
    ]


async def _member_names(session: AsyncSession, entries: list[AuditEntry]) -> dict[int, str]:
    """Current names of the organisers whose role changed: those entries store only an id."""
    ids = {e.details["member_id"] for e in entries if isinstance(e.details.get("member_id"), int)}
    if not ids:
        return {}
    found = await session.execute(select(Organiser.id, Organiser.name).where(Organiser.id.in_(ids)))
    return dict(found.all())


def _named(details: Mapping[str, object], names: Mapping[int, str]) -> Mapping[str, object]:
    """A role change's member id replaced by their name, while their account exists."""
    member = details.get("member_id")
    if not isinstance(member, int) or member not in names:
        return details  # an account since deleted stays a number
    return {"member": names[member], **{k: v for k, v in details.items() if k != "member_id"}}
