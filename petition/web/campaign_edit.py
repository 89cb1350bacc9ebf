"""Creating and editing campaigns in the dashboard; opening and closing them."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from petition import audit, campaigns, changes, organisers, privacy, readers
from petition.campaign_form import parse_campaign
from petition.campaigns import render_markdown
from petition.i18n import _
from petition.models import Campaign, Organiser, Role
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import render

AnyRequest = Request[Any, Any, Any]


@get("/dashboard/new", dependencies=SIGNED_IN)
async def new_page(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[str]:
    return _form(request, services, None, {"kind": "petition"}, {})


@post("/dashboard/new", dependencies=SIGNED_IN)
async def create(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[Any]:
    """Any organiser may start a campaign, and becomes its owner."""
    data = await _form_data(request)
    spec = parse_campaign(data)
    if isinstance(spec, dict) or "preview" in data:
        return _form(request, services, None, data, spec if isinstance(spec, dict) else {})
    async with services.transaction() as session:
        try:
            campaign = await campaigns.create(
                session, spec, now=services.clock(), tz=services.settings.timezone
            )
        except campaigns.SlugTaken:
            errors = {"slug": _("This address is taken by another campaign.")}
            return _form(request, services, None, data, errors)
        await privacy.current(session, campaign, services.settings, services.clock())
        await organisers.grant(session, organiser, campaign, Role.OWNER)
        await readers.follow(session, campaign, services.clock())  # sealed if they have a key
        await audit.record(session, campaign, organiser, "create", {}, 0, services.clock())
    return Redirect(f"/dashboard/c/{campaign.slug}", status_code=303)


@get("/dashboard/c/{slug:str}/edit", dependencies=SIGNED_IN)
async def edit_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
    return _form(request, services, campaign, _values(campaign, services.settings.timezone), {})


@post("/dashboard/c/{slug:str}/edit", dependencies=SIGNED_IN)
async def edit(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    data = await _form_data(request)
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        spec = parse_campaign(data, slug=campaign.slug)
        if isinstance(spec, dict) or "preview" in data:
            errors = spec if isinstance(spec, dict) else {}
            return _form(request, services, campaign, data, errors)
        campaigns.apply(campaign, spec, services.settings.timezone)
        await privacy.current(session, campaign, services.settings, services.clock())
        changes.record(session, campaign.id)
        await audit.record(session, campaign, organiser, "edit", {}, 0, services.clock())
    return Redirect(f"/dashboard/c/{slug}", status_code=303)


@post("/dashboard/c/{slug:str}/{action:str}", dependencies=SIGNED_IN)
async def open_or_close(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    """`close` stops signatures now; `reopen` takes them again, until an optional new date."""
    data = await _form_data(request)
    now = services.clock()
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        if action == "close":
            campaigns.close_now(campaign, now)
        elif action == "reopen":
            closes = _date_or_none(data.get("closes"))
            campaigns.reopen(
                campaign,
                closes if closes and closes >= now.date() else None,
                services.settings.timezone,
            )
        else:
            return Redirect(f"/dashboard/c/{slug}", status_code=303)
        changes.record(session, campaign.id)
        await audit.record(session, campaign, organiser, action, {}, 0, now)
    return Redirect(f"/dashboard/c/{slug}", status_code=303)


def _form(
    request: AnyRequest,
    services: Services,
    campaign: Campaign | None,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response[str]:
    context = {
        "campaign": campaign,
        "values": values,
        "errors": errors,
        "preview": render_markdown(values.get("body", "")) if "preview" in values else None,
    }
    status = 422 if errors else 200
    return render(
        request,
        services,
        "organiser/campaign_form.html",
        context,
        status_code=status,
    )


def _values(campaign: Campaign, tz: str) -> dict[str, str]:
    """What the form shows for an existing campaign (dates as the days people chose)."""
    values = {
        "title": campaign.title,
        "kind": campaign.kind.value,
        "grouping": campaign.grouping.value,
        "kit_title": campaign.kit_title or "",
        "kit_subject": campaign.kit_subject or "",
        "kit_body": campaign.kit_body or "",
        "kit_email": campaign.kit_email or "",
        "controller": campaign.controller or "",
        "privacy_contact": campaign.privacy_contact or "",
        "body": campaign.body_markdown,
        "goal": str(campaign.goal or ""),
        "opens": campaigns.local_day(campaign.opens_at, tz) if campaign.opens_at else "",
        "closes": campaigns.last_local_day(campaign.closes_at, tz) if campaign.closes_at else "",
    }
    for name in campaign.required_fields:
        values[f"require_{name}"] = "yes"
    return values


async def _form_data(request: AnyRequest) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _date_or_none(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
