"""The organisers' dashboard: their campaigns, a campaign's figures, exports, the audit log."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Stream
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import campaigns, counts, exports, i18n, organisers
from petition.i18n import _
from petition.models import AuditEntry, Campaign, Organiser, Role, Signature, SignatureStatus
from petition.web.deps import ServicesDep
from petition.web.organiser import current_organiser
from petition.web.pages import PRIVATE, locale_of, render

AnyRequest = Request[Any, Any, Any]
SIGNED_IN = {"organiser": Provide(current_organiser)}
NAMED_LIST_ROLES = frozenset({Role.OWNER, Role.EDITOR})


@get("/dashboard", dependencies=SIGNED_IN)
async def home(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[str]:
    async with services.transaction() as session:
        mine = await organisers.campaigns_of(session, organiser)
        totals = await counts.confirmed_by_campaign(session)
    context = {"organiser": organiser, "campaigns": mine, "totals": totals}
    return render(request, services, "organiser/dashboard.html", context, headers=PRIVATE)


@get("/dashboard/c/{slug:str}", dependencies=SIGNED_IN)
async def campaign_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await _campaign_for(session, organiser, slug)
        by_status = await _counts_by_status(session, campaign)
        audit = await _audit(session, campaign) if role is Role.OWNER else []
    context = {
        "organiser": organiser,
        "campaign": campaign,
        "role": role,
        "by_status": by_status,
        "can_export": role in NAMED_LIST_ROLES,
        "needs_2fa": services.settings.exports_require_2fa and organiser.totp_secret is None,
        "audit": audit,
    }
    return render(request, services, "organiser/campaign.html", context, headers=PRIVATE)


@post("/dashboard/c/{slug:str}/export", dependencies=SIGNED_IN, status_code=200)
async def export(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """A POST, not a GET: an export is an act, recorded in the audit log before it streams."""
    form = await request.form()
    fmt = str(form.get("format", "csv"))
    filters = _filters(form, services.settings.timezone)
    if fmt not in exports.FORMATS or filters is None:
        raise PermissionDeniedException  # only our own form posts here; anything else is refused
    now = services.clock()
    async with services.transaction() as session:
        campaign, role = await _campaign_for(session, organiser, slug)
        if role not in NAMED_LIST_ROLES:
            raise PermissionDeniedException
        if services.settings.exports_require_2fa and organiser.totp_secret is None:
            raise PermissionDeniedException
        await exports.record(session, campaign, organiser, fmt, filters, now)
    locale = locale_of(request)
    with i18n.using(services.catalogs, locale):
        header = [i18n.gettext(label) for label in HEADER_LABELS]
    source = exports.rows(services.sessions, campaign, filters)
    body = exports.stream(fmt, campaign, source, header, delimiter=";" if locale == "fr" else ",")
    disposition = f'attachment; filename="{exports.file_name(campaign, fmt, now)}"'
    return Stream(
        body,
        media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": disposition, **PRIVATE},
    )


HEADER_LABELS = (
    _("First name"),
    _("Last name"),
    _("Role"),
    _("Organisation"),
    _("Published"),
    _("Confirmed on"),
)


async def _campaign_for(
    session: AsyncSession, organiser: Organiser, slug: str
) -> tuple[Campaign, Role]:
    """The campaign and the organiser's role on it; 404 when it is not theirs (or not at all)."""
    campaign = await campaigns.get_by_slug(session, slug)
    role = await organisers.role_on(session, organiser, campaign) if campaign else None
    if campaign is None or role is None:
        raise NotFoundException
    return campaign, role


async def _counts_by_status(session: AsyncSession, campaign: Campaign) -> dict[str, int]:
    # Counting rows is fine here: a few organisers look, not the public.
    result = await session.execute(
        select(Signature.status, func.count())
        .where(Signature.campaign_id == campaign.id)
        .group_by(Signature.status)
    )
    found = {status.value: int(n) for status, n in result.all()}
    return {status.value: found.get(status.value, 0) for status in SignatureStatus}


async def _audit(session: AsyncSession, campaign: Campaign) -> list[AuditEntry]:
    result = await session.execute(
        select(AuditEntry)
        .where(AuditEntry.campaign_id == campaign.id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(100)
    )
    return list(result.scalars())


def _filters(form: Any, tz: str) -> exports.ExportFilter | None:
    """Status (confirmed by default) and an optional date range, read in the campaign's zone."""
    try:
        status = SignatureStatus(str(form.get("status") or SignatureStatus.CONFIRMED.value))
        since = _day(form.get("since"), tz)
        until = _day(form.get("until"), tz, next_day=True)
    except ValueError:
        return None
    if status is SignatureStatus.WITHDRAWN:
        return None  # withdrawn signatures have nothing left to export
    return exports.ExportFilter(status=status, since=since, until=until)


def _day(value: object, tz: str, *, next_day: bool = False) -> datetime | None:
    if not value:
        return None
    day = date.fromisoformat(str(value)) + timedelta(days=1 if next_day else 0)
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz))
