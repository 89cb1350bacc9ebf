"""Editors name the official petition beside theirs, give its count or the feed it is read from."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from petition import audit, official
from petition.i18n import _
from petition.models import Campaign, Organiser, Role
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import render

AnyRequest = Request[Any, Any, Any]


@get("/dashboard/c/{slug:str}/official", dependencies=SIGNED_IN)
async def official_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
    values = official.values(campaign, services.settings.timezone)
    return _page(request, services, campaign, role, values)


@post("/dashboard/c/{slug:str}/official", dependencies=SIGNED_IN)
async def save_official(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """All the settings or none: a bad field saves nothing and is named beside its input."""
    data = await _form(request)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        spec = official.parse(data)
        if isinstance(spec, dict):
            return _page(request, services, campaign, role, data, errors=spec, status_code=422)
        changed = official.apply(session, campaign, spec, services.settings.timezone)
        if changed:
            details = {"changed": changed}
            now = services.clock()
            await audit.record(session, campaign, organiser, "official petition", details, 0, now)
    return Redirect(f"/dashboard/c/{slug}/official", status_code=303)


@post("/dashboard/c/{slug:str}/official/count", dependencies=SIGNED_IN)
async def enter_count(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """The count as the official site shows it today, typed by an editor: dated now."""
    data = await _form(request)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        count = official.parse_count(data.get("count"))
        if count is None:
            values = official.values(campaign, services.settings.timezone)
            problem = {"count": _("Give a whole number of 0 or more.")}
            values["count"] = data.get("count", "")
            return _page(request, services, campaign, role, values, errors=problem, status_code=422)
        now = services.clock()
        before = official.set_count(session, campaign, count, official.ORGANISER, now)
        details = {"before": before, "after": count} if before is not None else {"after": count}
        await audit.record(session, campaign, organiser, "official count", details, 0, now)
    return Redirect(f"/dashboard/c/{slug}/official", status_code=303)


@post("/dashboard/c/{slug:str}/official/read", dependencies=SIGNED_IN)
async def read_now(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """Read the feed now, outside any transaction (a slow site holds up nothing)."""
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
    feed = official.feed_of(campaign)
    if feed is not None:
        readings = await official.read_all([feed])
        async with services.transaction() as session:
            campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
            before, now = campaign.official_count, services.clock()
            await official.record(session, readings, now)
            if readings[0].count is not None:
                details = {"before": before, "after": readings[0].count}
                await audit.record(session, campaign, organiser, "official read", details, 0, now)
    return Redirect(f"/dashboard/c/{slug}/official", status_code=303)


async def _form(request: AnyRequest) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


def _page(
    request: AnyRequest,
    services: Services,
    campaign: Campaign,
    role: Role,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[str]:
    context = {
        "campaign": campaign,
        "role": role,
        "values": values,
        "errors": errors or {},
        "feed_error": official.error_parts(campaign.official_feed_error),
        "feed_minutes": _minutes(services.settings.official_feed_minutes),
    }
    return render(request, services, "organiser/official.html", context, status_code=status_code)


def _minutes(value: float) -> float | int:
    """30, not 30.0, in "read every 30 minutes"."""
    return int(value) if value == int(value) else value
