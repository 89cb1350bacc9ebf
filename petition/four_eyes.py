"""Four eyes on named exports: a sealed export of a campaign run by more than one organiser is
asked for by one of them and approved by another, an owner, before it can be fetched, once,
within a day. Asking, approving, refusing and fetching are each in the audit log, with who did it.

A campaign with a single organiser has nobody to approve: its organiser exports alone, and the
privacy notice says so.
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


async def required(session: AsyncSession, campaign: Campaign) -> bool:
    """Whether a sealed export of this campaign needs a second organiser's approval."""
    members = await session.scalar(
        select(func.count())
        .select_from(CampaignOrganiser)
        .where(CampaignOrganiser.campaign_id == campaign.id)
    )
    return (members or 0) > 1


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
