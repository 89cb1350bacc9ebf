"""Editors say which email domains belong to which organisation, for verified affiliations."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from petition import affiliations, audit
from petition.forms import clean_text
from petition.i18n import _
from petition.models import Organiser
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import ServicesDep
from petition.web.pages import render

AnyRequest = Request[Any, Any, Any]


@get("/dashboard/c/{slug:str}/affiliations", dependencies=SIGNED_IN)
async def affiliations_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        listed = await affiliations.listed(session, campaign.id)
    context = {
        "campaign": campaign,
        "role": role,
        "affiliations": listed,
        "errors": {},
        "values": {},
    }
    return render(request, services, "organiser/affiliations.html", context)


@post("/dashboard/c/{slug:str}/affiliations", dependencies=SIGNED_IN)
async def change_affiliations(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("action", "domain", "organisation")}
    domain = affiliations.clean_domain(values["domain"])
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        errors: dict[str, str] = {}
        if domain is None:
            errors["domain"] = _("Give a domain name such as chu-lyon.fr.")
        if values["action"] == "remove" and domain is not None:
            removed = await affiliations.remove(session, campaign.id, domain)
            details = {"domain": domain}
            now = services.clock()
            await audit.record(session, campaign, organiser, "unmap domain", details, removed, now)
            return Redirect(f"/dashboard/c/{slug}/affiliations", status_code=303)
        name, problem = clean_text(values["organisation"], 200, required=True)
        if problem:
            errors["organisation"] = problem
        if not errors and domain is not None:
            if await affiliations.add(session, campaign.id, domain, name, services.clock()):
                details = {"domain": domain, "organisation": name}
                now = services.clock()
                await audit.record(session, campaign, organiser, "map domain", details, 0, now)
                return Redirect(f"/dashboard/c/{slug}/affiliations", status_code=303)
            errors["domain"] = _("This domain is already mapped; remove it first.")
        listed = await affiliations.listed(session, campaign.id)
    context = {
        "campaign": campaign,
        "role": role,
        "affiliations": listed,
        "errors": errors,
        "values": values,
    }
    return render(
        request,
        services,
        "organiser/affiliations.html",
        context,
        status_code=422,
    )
