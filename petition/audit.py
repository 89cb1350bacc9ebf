"""The audit log: who did what to a campaign and its signers' data, when, and to how many."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
    "import addressees": _("imported addressees"),
    "test letter": _("sent a test letter"),
    "send letter": _("sent the letter"),
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


async def latest(session: AsyncSession, campaign: Campaign, limit: int = 100) -> list[AuditEntry]:
    result = await session.execute(
        select(AuditEntry)
        .where(AuditEntry.campaign_id == campaign.id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(result.scalars())
