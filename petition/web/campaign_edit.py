"""Creating and editing campaigns in the dashboard; opening and closing them."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit, campaigns, changes, four_eyes, organisers, privacy, readers, sealing
from petition.campaign_form import four_eyes_choice, parse_campaign
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
    async with services.reading() as session:
        needs_key = await readers.current_key(session, organiser.id) is None
    return _form(
        request, services, None, {"kind": "petition", "language": "fr"}, {}, needs_key=needs_key
    )


@post("/dashboard/new", dependencies=SIGNED_IN)
async def create(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[Any]:
    """Any organiser may start a campaign, and becomes its owner. It is sealed from its
    creation: to the creator's key, given here (made in the browser or pasted) if they had none."""
    data = await _form_data(request)
    async with services.reading() as session:
        needs_key = await readers.current_key(session, organiser.id) is None
    spec = parse_campaign(data)
    errors = spec if isinstance(spec, dict) else {}
    public = _public_key(data, errors) if needs_key else None
    if errors or "preview" in data or isinstance(spec, dict):
        return _form(request, services, None, data, errors, needs_key=needs_key)
    async with services.transaction() as session:
        if public is not None:
            try:
                await readers.add_organiser_key(session, organiser.id, public, services.clock())
            except readers.KeyInUse:
                errors = {"public_key": _("This key is given already.")}
                return _form(request, services, None, data, errors, needs_key=needs_key)
        try:
            campaign = await campaigns.create(
                session, spec, now=services.clock(), tz=services.settings.timezone
            )
        except campaigns.SlugTaken:
            errors = {"slug": _("This address is taken by another campaign.")}
            return _form(request, services, None, data, errors, needs_key=needs_key)
        await privacy.current(session, campaign, services.settings, services.clock())
        await organisers.grant(session, organiser, campaign, Role.OWNER)
        await readers.follow(session, campaign, services.clock())  # sealed to the creator's key
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
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
    values = _values(campaign, services.settings.timezone)
    return _form(request, services, campaign, values, {}, owner=role is Role.OWNER)


@post("/dashboard/c/{slug:str}/edit", dependencies=SIGNED_IN)
async def edit(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    data = await _form_data(request)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        owner = role is Role.OWNER
        spec = parse_campaign(data, slug=campaign.slug)
        if isinstance(spec, dict) or "preview" in data:
            errors = spec if isinstance(spec, dict) else {}
            return _form(request, services, campaign, data, errors, owner=owner)
        # The owners' setting: an editor's form has no such field, and a forged one is ignored.
        problem = await _four_eyes(session, campaign, organiser, data if owner else {}, services)
        if problem:
            return _form(request, services, campaign, data, problem, owner=owner)
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
    *,
    needs_key: bool = False,
    owner: bool = False,
) -> Response[str]:
    context = {
        "campaign": campaign,
        "needs_key": needs_key,
        "owner": owner,
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


NO_KEY = _(
    "A campaign is sealed from its creation: make your reader key here, or paste the line of"
    " the .pub file that petition keys create wrote."
)
NOT_A_KEY = _("This is not a public key of petition: paste the whole line of your .pub file.")


def _public_key(data: dict[str, str], errors: dict[str, str]) -> bytes | None:
    """The creator's public key from the form; an error added when it is missing or wrong."""
    text = data.get("public_key", "").strip()
    try:
        return sealing.decode_public(text)
    except sealing.SealError:
        errors["public_key"] = NOT_A_KEY if text else NO_KEY
        return None


SEVERAL_ORGANISERS = _(
    "This campaign has more than one organiser: its sealed exports keep needing a second"
    " owner's approval."
)


async def _four_eyes(
    session: AsyncSession,
    campaign: Campaign,
    owner: Organiser,
    data: dict[str, str],
    services: Services,
) -> dict[str, str]:
    """The owner's four-eyes choice applied; or why it cannot be, with nothing changed."""
    wanted = four_eyes_choice(data)
    if wanted is None:
        return {}
    try:
        await four_eyes.choose(session, campaign, owner, wanted, services.clock())
    except four_eyes.SeveralOrganisers:
        return {"four_eyes": SEVERAL_ORGANISERS}
    return {}


def _values(campaign: Campaign, tz: str) -> dict[str, str]:
    """What the form shows for an existing campaign (dates as the days people chose)."""
    values = {
        "title": campaign.title,
        "kind": campaign.kind.value,
        "language": campaign.language,
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
        "four_eyes": "on" if campaign.four_eyes else "off",
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
