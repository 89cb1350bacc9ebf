"""The quarantine, for editors: what the anti-abuse rules held, release or invalidate in bulk,
and which rules and email domains spike."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath
from litestar.response import Redirect

from petition import moderation, organisers, quarantine
from petition.forms import clean_text
from petition.models import Organiser
from petition.web.access import SIGNED_IN, campaign_with_names
from petition.web.dashboard import ticked
from petition.web.deps import ServicesDep
from petition.web.pages import render

AnyRequest = Request[Any, Any, Any]


@get("/dashboard/c/{slug:str}/quarantine", dependencies=SIGNED_IN)
async def held_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    rule = _rule(request.query_params.get("rule"))
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        held = await quarantine.list_held(session, campaign, rule)
        rules, domains = await quarantine.spikes(session, campaign, services.clock())
        role = await organisers.role_on(session, organiser, campaign)
    context = {
        "campaign": campaign,
        "role": role,
        "held": held,
        "rule": rule,
        "rules": quarantine.RULES,
        "rule_spikes": rules,
        "domain_spikes": domains,
    }
    return render(request, services, "organiser/quarantine.html", context)


@post("/dashboard/c/{slug:str}/quarantine/{action:str}", dependencies=SIGNED_IN)
async def act_on_held(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    """Release or invalidate the ticked held signatures, or all those one rule caught."""
    form = await request.form()
    ids = tuple(i for i in ticked(form) if i > 0)
    rule = _rule(form.get("rule")) if not ids else ""
    reason, problem = clean_text(str(form.get("reason", "")), 200, required=action == "invalidate")
    now = services.clock()
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        if action not in {"release", "invalidate"} or not (ids or rule) or problem:
            raise ValidationException
        if action == "release":
            await quarantine.release(session, campaign, organiser, now, ids=ids, rule=rule)
        else:
            chosen = moderation.Rule(ids=ids, caught_by=rule)
            await moderation.invalidate(session, campaign, chosen, reason, organiser, now)
    return Redirect(f"/dashboard/c/{slug}/quarantine", status_code=303)


def _rule(value: object) -> str:
    text = str(value or "")
    return text if text in quarantine.RULES else ""
