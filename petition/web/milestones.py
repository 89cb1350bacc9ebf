"""Editors set a campaign's milestones: thresholds of its count, with what each means."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from petition import audit, milestones
from petition.i18n import _
from petition.models import Campaign, Milestone, Organiser, Role
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, render

AnyRequest = Request[Any, Any, Any]
FIELDS = ("threshold", "label_fr", "label_en")


@get("/dashboard/c/{slug:str}/milestones", dependencies=SIGNED_IN)
async def milestones_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        listed = await milestones.listed(session, campaign.id)
    return await _page(request, services, campaign, role, listed)


@post("/dashboard/c/{slug:str}/milestones", dependencies=SIGNED_IN)
async def add_milestone(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in FIELDS}
    threshold, problem = milestones.parse_threshold(values["threshold"])
    labels, errors = milestones.parse_labels(values)
    if problem:
        errors["threshold"] = problem
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        now = services.clock()
        if not errors:
            if await milestones.add(session, campaign.id, threshold, labels, now):
                details = {"threshold": threshold}
                await audit.record(session, campaign, organiser, "add milestone", details, 0, now)
                return _back(slug)
            errors["threshold"] = _("This campaign has a milestone at this number already.")
        listed = await milestones.listed(session, campaign.id)
    return await _page(request, services, campaign, role, listed, errors=errors, values=values)


@post("/dashboard/c/{slug:str}/milestones/{ident:int}", dependencies=SIGNED_IN)
async def change_milestone(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[Any]:
    """What a milestone means; its threshold stays (remove it and add another instead)."""
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in FIELDS}
    labels, errors = milestones.parse_labels(values)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        if not errors:
            changed = await milestones.relabel(session, campaign.id, ident, labels)
            if changed is None:
                raise NotFoundException
            details = {"threshold": changed.threshold}
            now = services.clock()
            await audit.record(session, campaign, organiser, "change milestone", details, 0, now)
            return _back(slug)
        listed = await milestones.listed(session, campaign.id)
    return await _page(
        request, services, campaign, role, listed, errors=errors, values=values, editing=ident
    )


@post("/dashboard/c/{slug:str}/milestones/{ident:int}/remove", dependencies=SIGNED_IN)
async def remove_milestone(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[Any]:
    """Only one not reached yet: what organisers were told of stays on the page."""
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        threshold = await milestones.remove(session, campaign.id, ident)
        if threshold is not None:
            details = {"threshold": threshold}
            now = services.clock()
            await audit.record(session, campaign, organiser, "remove milestone", details, 0, now)
            return _back(slug)
        listed = await milestones.listed(session, campaign.id)
    if not any(m.id == ident for m in listed):
        raise NotFoundException
    errors = {"remove": _("This milestone was reached: it stays, as its organisers were told.")}
    return await _page(request, services, campaign, role, listed, errors=errors, editing=ident)


def _back(slug: str) -> Redirect:
    return Redirect(f"/dashboard/c/{slug}/milestones", status_code=303)


async def _page(
    request: AnyRequest,
    services: Services,
    campaign: Campaign,
    role: Role,
    listed: list[Milestone],
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    editing: int | None = None,
) -> Response[str]:
    state = await services.hub.by_slug(campaign.slug)
    context = {
        "campaign": campaign,
        "role": role,
        "milestones": listed,
        "count": state.count if state else 0,
        "errors": errors or {},
        "values": values or {},
        "editing": editing,
    }
    status_code = 422 if errors else 200
    return render(request, services, "organiser/milestones.html", context, status_code=status_code)
