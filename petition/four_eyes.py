"""Four eyes on named exports: a sealed export is asked for by one organiser and approved by
another, an owner, before it can be fetched, once, within a day. Asking, approving, refusing and
fetching are each in the audit log, with who did it.

The rule, in `required` and nowhere else: approval is needed when the campaign's setting is on
(the default) or the campaign has more than one organiser. An owner turns the setting off only
while they are its single organiser, and it is stated on the privacy notice.

Adding a second organiser turns the setting back on, in the audit log, rather than leaving it
off for the rule to override: the owner's form and the signers' notice then say what applies,
and a member who leaves later does not switch approval off behind anyone's back; turning it off
again is an owner's choice, made once they are alone again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit
from petition.exports import ExportFilter
from petition.models import (
    Campaign,
    CampaignOrganiser,
    ExportRequest,
    Organiser,
    Role,
    SignatureStatus,
)

APPROVAL = timedelta(hours=24)
PENDING, APPROVED, REFUSED, FETCHED = "pending", "approved", "refused", "fetched"


class NotAllowed(Exception):
    """This organiser may not do this to this request (their own, not an owner, expired...)."""


@dataclass(frozen=True, slots=True)
class Asked:
    """A request as the campaign page lists it."""

    request: ExportRequest
    requester: str


class SeveralOrganisers(Exception):
    """The setting stays on while the campaign has more than one organiser."""


ON, OFF = "on", "off"


async def required(session: AsyncSession, campaign: Campaign) -> bool:
    """Whether a sealed export of this campaign needs a second owner's approval."""
    return campaign.four_eyes or await _members(session, campaign) > 1


async def other_owners(session: AsyncSession, campaign: Campaign, organiser: Organiser) -> int:
    """How many owners besides this organiser could approve their request."""
    found = await session.scalar(
        select(func.count())
        .select_from(CampaignOrganiser)
        .where(
            CampaignOrganiser.campaign_id == campaign.id,
            CampaignOrganiser.role == Role.OWNER,
            CampaignOrganiser.organiser_id != organiser.id,
        )
    )
    return found or 0


async def choose(
    session: AsyncSession, campaign: Campaign, owner: Organiser, wanted: bool, now: datetime
) -> bool:
    """An owner turns the setting on, or off (SeveralOrganisers unless they are the only
    organiser); whether it changed. The caller checks the role, and writes the new notice."""
    if await _locked_setting(session, campaign) == wanted:
        return False
    if not wanted and await _members(session, campaign) > 1:
        raise SeveralOrganisers(campaign.slug)
    await _turn(session, campaign, owner, wanted, "four eyes", now)
    return True


async def member_added(
    session: AsyncSession, campaign: Campaign, actor: Organiser | None, now: datetime
) -> bool:
    """After someone joined the team: with two organisers or more the setting is on again;
    whether it was turned back on now (then the caller writes the new notice)."""
    if await _locked_setting(session, campaign) or await _members(session, campaign) <= 1:
        return False
    await _turn(session, campaign, actor, True, "four eyes back on", now)
    return True


async def _turn(
    session: AsyncSession,
    campaign: Campaign,
    actor: Organiser | None,
    on: bool,
    action: str,
    now: datetime,
) -> None:
    campaign.four_eyes = on
    details = {"before": OFF if on else ON, "after": ON if on else OFF}
    await audit.record(session, campaign, actor, action, details, 0, now)


async def _locked_setting(session: AsyncSession, campaign: Campaign) -> bool:
    """The setting as committed, its row locked: a member added while the sole owner turns it
    off waits for the other, then sees them (PostgreSQL; SQLite has one writer at a time)."""
    found = await session.scalar(
        select(Campaign.four_eyes).where(Campaign.id == campaign.id).with_for_update()
    )
    return bool(found)


async def _members(session: AsyncSession, campaign: Campaign) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(CampaignOrganiser)
        .where(CampaignOrganiser.campaign_id == campaign.id)
    )
    return found or 0


async def ask(
    session: AsyncSession,
    campaign: Campaign,
    organiser: Organiser,
    filters: ExportFilter,
    now: datetime,
) -> ExportRequest:
    request = ExportRequest(
        campaign_id=campaign.id,
        requested_by=organiser.id,
        status=PENDING,
        filters=filters.describe(),
        created_at=now,
    )
    session.add(request)
    await session.flush()
    await audit.record(
        session, campaign, organiser, "export request", {"request": request.id}, 0, now
    )
    return request


async def listed(session: AsyncSession, campaign: Campaign, now: datetime) -> list[Asked]:
    """The campaign's requests still pending, or approved and not yet fetched nor expired."""
    result = await session.execute(
        select(ExportRequest, Organiser.name)
        .outerjoin(Organiser, Organiser.id == ExportRequest.requested_by)
        .where(ExportRequest.campaign_id == campaign.id)
        .where(ExportRequest.status.in_((PENDING, APPROVED)))
        .order_by(ExportRequest.id)
    )
    return [
        Asked(request, name or "")
        for request, name in result.all()
        if request.status == PENDING or (request.expires_at and request.expires_at > now)
    ]


async def decide(
    session: AsyncSession,
    campaign: Campaign,
    owner: Organiser,
    role: Role,
    request_id: int,
    *,
    approve: bool,
    now: datetime,
) -> ExportRequest:
    """An owner other than the requester approves or refuses a pending request."""
    request = await _request(session, campaign, request_id)
    if role is not Role.OWNER or request.requested_by == owner.id or request.status != PENDING:
        raise NotAllowed
    request.status = APPROVED if approve else REFUSED
    request.decided_by, request.decided_at = owner.id, now
    request.expires_at = now + APPROVAL if approve else None
    requester = await session.get(Organiser, request.requested_by) if request.requested_by else None
    details = {"request": request.id, "requested_by": requester.name if requester else None}
    action = "export approval" if approve else "export refusal"
    await audit.record(session, campaign, owner, action, details, 0, now)
    return request


async def fetch(
    session: AsyncSession, campaign: Campaign, organiser: Organiser, request_id: int, now: datetime
) -> tuple[ExportFilter, str]:
    """The requester takes the approved export, once: its filters and who approved it."""
    request = await _request(session, campaign, request_id)
    expired = request.expires_at is None or request.expires_at <= now
    if request.requested_by != organiser.id or request.status != APPROVED or expired:
        raise NotAllowed
    request.status = FETCHED
    approver = await session.get(Organiser, request.decided_by) if request.decided_by else None
    return _filters(request.filters), approver.name if approver else ""


async def _request(session: AsyncSession, campaign: Campaign, request_id: int) -> ExportRequest:
    request = await session.get(ExportRequest, request_id, with_for_update=True)
    if request is None or request.campaign_id != campaign.id:
        raise NotAllowed
    return request


def _filters(described: dict[str, object]) -> ExportFilter:
    since, until = described.get("since"), described.get("until")
    return ExportFilter(
        status=SignatureStatus(str(described.get("status", SignatureStatus.CONFIRMED.value))),
        since=datetime.fromisoformat(str(since)) if since else None,
        until=datetime.fromisoformat(str(until)) if until else None,
    )
