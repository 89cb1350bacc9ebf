"""Pages for signers and the public: campaign, signing, confirmation, withdrawal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from petition import campaigns, counts, defences, forms, pow, privacy, quarantine, signing, tokens
from petition.i18n import _
from petition.models import Campaign, TokenPurpose
from petition.signing import Links
from petition.web.deps import Services, ServicesDep
from petition.web.pages import (
    campaign_state,
    client_of,
    locale_of,
    render,
)

AnyRequest = Request[Any, Any, Any]


@get("/")
async def index(request: AnyRequest, services: ServicesDep) -> Response[str]:
    now = services.clock()
    async with services.transaction() as session:
        listed = [c for c in await campaigns.list_all(session) if c.is_open(now)]
        totals = await counts.confirmed_by_campaign(session)
    return render(request, services, "index.html", {"campaigns": listed, "totals": totals})


@get("/c/{slug:str}")
async def campaign_page(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        campaign = await _campaign_or_404(session, slug)
        count = await counts.confirmed(session, campaign.id)
    return _campaign_response(request, services, campaign, count)


@post("/c/{slug:str}")
async def sign(request: AnyRequest, services: ServicesDep, slug: FromPath[str]) -> Response[Any]:
    """Every accepted form gets the same answer: new, pending, confirmed or withdrawn address,
    caught by an anti-abuse rule or not. What differs happens out of sight (mail, quarantine)."""
    data = await _form_data(request)
    now = services.clock()
    async with services.transaction() as session:
        campaign = await _campaign_or_404(session, slug)
        if not campaign.is_open(now):
            count = await counts.confirmed(session, campaign.id)
            return _campaign_response(request, services, campaign, count, status_code=410)
        parsed = forms.parse_signature(data, campaign.required_fields)
        if isinstance(parsed, dict):
            count = await counts.confirmed(session, campaign.id)
            return _campaign_response(
                request, services, campaign, count, form=data, errors=parsed, status_code=422
            )
        rule = await services.defences.assess(
            session, campaign.id, data, client_of(request, services), now
        )
        if rule is not None:
            await quarantine.record_signal(session, campaign, rule, now)
        if rule in defences.FORGED:
            return _thanks(slug)  # as for everyone, but nothing stored, nothing mailed
        notice = await privacy.current(session, campaign, services.settings, now)
        consent = signing.Consent(privacy.label(notice), rule)
        await signing.sign(
            session, campaign, parsed, locale_of(request), consent, services.signing_context()
        )
    services.sender.wake()
    return _thanks(slug)


def _thanks(slug: str) -> Response[Any]:
    return Redirect(f"/c/{slug}/thanks", status_code=303)


@get("/c/{slug:str}/challenge", media_type="application/json")
async def challenge(services: ServicesDep, slug: FromPath[str]) -> Response[dict[str, Any]]:
    """A proof-of-work challenge for this campaign's form (fetched by the widget)."""
    state = await campaign_state(services, slug)
    settings = services.settings
    body = pow.challenge(
        services.secret,
        state.id,
        services.clock(),
        settings.pow_cost,
        timedelta(minutes=settings.pow_minutes),
    )
    return Response(body, headers={"Cache-Control": "no-store"})


@get("/c/{slug:str}/thanks")
async def check_inbox(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        campaign = await _campaign_or_404(session, slug)
    return render(request, services, "check_inbox.html", {"campaign": campaign})


@get("/confirm/{token:str}")
async def confirm_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        target = await signing.resolve(session, token, TokenPurpose.CONFIRM, services.clock())
    if target.signature.status in signing.CONFIRMED_BY_MAIL:
        raise tokens.UsedLink
    context = {"campaign": target.campaign, "signature": target.signature, "token": token}
    return render(request, services, "confirm.html", context)


@post("/confirm/{token:str}")
async def confirm(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    async with services.transaction() as session:
        target = await signing.confirm(session, token, services.clock())
    return Redirect(f"/c/{target.campaign.slug}/confirmed", status_code=303)


@get("/c/{slug:str}/confirmed")
async def confirmed(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        campaign = await _campaign_or_404(session, slug)
        count = await counts.confirmed(session, campaign.id)
    return render(request, services, "confirmed.html", {"campaign": campaign, "count": count})


@get("/withdraw/{token:str}")
async def withdraw_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        target = await signing.resolve(session, token, TokenPurpose.WITHDRAW, services.clock())
    return _manage_page(request, services, target, token, {})


@post("/withdraw/{token:str}/publication")
async def change_publication(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    """The signer changes what of them is published, through the link in their mail."""
    data = await _form_data(request)
    choice = forms.publication_choice(data.get("publication", ""))
    async with services.transaction() as session:
        if choice is None:
            target = await signing.resolve(session, token, TokenPurpose.WITHDRAW, services.clock())
            problem = {"publication": _("Please choose one of the options offered.")}
            return _manage_page(request, services, target, token, problem)
        await signing.change_publication(session, token, choice, services.clock())
    return Redirect(f"/withdraw/{token}?saved=1", status_code=303)


@post("/withdraw/{token:str}")
async def withdraw(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    async with services.transaction() as session:
        target = await signing.withdraw(session, token, services.clock())
    await services.scrub()
    return Redirect(f"/c/{target.campaign.slug}/withdrawn", status_code=303)


@get("/c/{slug:str}/withdrawn")
async def withdrawn(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        campaign = await _campaign_or_404(session, slug)
    return render(request, services, "withdrawn.html", {"campaign": campaign})


@get("/healthz", media_type="text/plain")
async def health(services: ServicesDep) -> str:
    async with services.transaction() as session:
        await campaigns.any_exists(session)
    return "ok"


def _manage_page(
    request: AnyRequest,
    services: Services,
    target: signing.LinkTarget,
    token: str,
    errors: dict[str, str],
) -> Response[str]:
    """The signer's own page (their mailed link): what is published, and withdrawal."""
    context = {
        "campaign": target.campaign,
        "token": token,
        "publication": target.signature.publication.value,
        "saved": request.query_params.get("saved") == "1",
        "errors": errors,
    }
    status = 422 if errors else 200
    return render(request, services, "withdraw.html", context, status_code=status)


async def _campaign_or_404(session: AsyncSession, slug: FromPath[str]) -> Campaign:
    campaign = await campaigns.get_by_slug(session, slug)
    if campaign is None:
        raise NotFoundException
    return campaign


async def _form_data(request: AnyRequest) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _campaign_response(
    request: AnyRequest,
    services: Services,
    campaign: Campaign,
    count: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[str]:
    context = {
        "campaign": campaign,
        "count": count,
        "is_open": campaign.is_open(services.clock()),
        "now": services.clock(),
        "form": form or {},
        "errors": errors or {},
        "required": {"first_name", "last_name", "email", *campaign.required_fields},
        "notice": privacy.facts(campaign, services.settings),
        "stamp": services.defences.stamp(campaign.id, services.clock()),
        "pow": services.pow_widget,
        "share": {
            "url": Links(services.settings.public_url).campaign(campaign.slug),
            "excerpt": campaigns.excerpt(campaign.body_html),
        },
    }
    return render(request, services, "campaign.html", context, status_code=status_code)
