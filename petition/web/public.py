"""Pages for signers and the public: campaign, signing, confirmation, withdrawal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from petition import campaigns, confirm_at_once, forms, pow, privacy, signing, submission, tokens
from petition.i18n import _
from petition.models import Campaign, TokenPurpose
from petition.signing import Links
from petition.web import ready
from petition.web.deps import Services, ServicesDep
from petition.web.pages import (
    campaign_state,
    client_of,
    locale_of,
    render,
)
from petition.web.texts import chosen_version, version_query

AnyRequest = Request[Any, Any, Any]


@get("/")
async def index(request: AnyRequest, services: ServicesDep) -> Response[str]:
    now = services.clock()
    states = sorted(await services.hub.states(), key=lambda s: s.campaign.created_at, reverse=True)
    listed = [state.campaign for state in states if state.campaign.is_open(now)]
    closed = [
        state.campaign
        for state in states
        if state.campaign.closes_at is not None and state.campaign.closes_at <= now
    ]
    totals = {state.id: state.count for state in states}
    context = {"campaigns": listed, "closed": closed, "totals": totals, "now": now}
    return render(request, services, "index.html", context)


@get("/c/{slug:str}")
async def campaign_page(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    state = await campaign_state(services, slug)
    ready.keep(request, state)
    return _campaign_response(request, services, state.campaign, state.count)


@post("/c/{slug:str}")
async def sign(request: AnyRequest, services: ServicesDep, slug: FromPath[str]) -> Response[Any]:
    """Every accepted form gets the same answer: new, pending, confirmed or withdrawn address,
    caught by an anti-abuse rule or not. What differs happens out of sight (mail, quarantine)."""
    data = await _form_data(request)
    now = services.clock()
    state = await campaign_state(services, slug)
    campaign = state.campaign
    if not campaign.is_open(now):
        return _campaign_response(request, services, campaign, state.count, status_code=410)
    parsed = forms.parse_signature(data, campaign.required_fields)
    if isinstance(parsed, dict):
        return _campaign_response(
            request, services, campaign, state.count, form=data, errors=parsed, status_code=422
        )
    screening = await services.defences.screen(campaign.id, data, client_of(request, services), now)
    queued = await services.write_together(
        submission.SIGNING,
        submission.Submission(
            campaign=campaign,
            form=parsed,
            screening=screening,
            notice=state.notice,
            domains=state.domains,
            settings=services.settings,
            locale=locale_of(request),
            judge=services.defences,
            ctx=services.signing_context(now),
        ),
    )
    if queued:
        services.sender.wake()
    services.metrics.signed()
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
    state = await campaign_state(services, slug)
    return render(request, services, "check_inbox.html", {"campaign": state.campaign})


@get("/confirm/{token:str}")
async def confirm_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.reading() as session:
        target = await signing.resolve(session, token, TokenPurpose.CONFIRM, services.clock())
    if target.signature.status in signing.CONFIRMED_BY_MAIL:
        raise tokens.UsedLink
    context = {"campaign": target.campaign, "signature": target.signature, "token": token}
    return render(request, services, "confirm.html", context)


@post("/confirm/{token:str}")
async def confirm(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    now = services.clock()
    done = await services.write_together(
        confirm_at_once.CONFIRMING, confirm_at_once.Press(token, now)
    )
    services.metrics.confirmed()
    return Redirect(f"/c/{done.campaign_slug}/confirmed", status_code=303)


@get("/c/{slug:str}/confirmed")
async def confirmed(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    state = await campaign_state(services, slug)
    campaign = state.campaign
    version, _versions = chosen_version(request, services, campaign)
    share = {"url": Links(services.settings.public_url).campaign(campaign.slug)}
    context = {
        "campaign": campaign,
        "version": version,
        "count": state.count,
        "share": share,
        "after_signing": True,
    }
    return render(request, services, "confirmed.html", context)


@get("/withdraw/{token:str}")
async def withdraw_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.reading() as session:
        target = await signing.resolve(session, token, TokenPurpose.WITHDRAW, services.clock())
    return _manage_page(request, services, target, token, {})


@post("/withdraw/{token:str}/publication")
async def change_publication(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    """The signer changes what of them is published, through the link in their mail."""
    data = await _form_data(request)
    choice = forms.publication_choice(data.get("publication", ""))
    now = services.clock()
    if choice is None:
        async with services.reading() as session:
            target = await signing.resolve(session, token, TokenPurpose.WITHDRAW, now)
        problem = {"publication": _("Please choose one of the options offered.")}
        return _manage_page(request, services, target, token, problem)
    retyped = forms.retyped(data)
    try:
        await services.write(
            lambda session: signing.change_publication(session, token, choice, now, retyped)
        )
    except signing.MustRetype:
        async with services.reading() as session:
            target = await signing.resolve(session, token, TokenPurpose.WITHDRAW, now)
        return _manage_page(request, services, target, token, {"publication": forms.RETYPE})
    return Redirect(f"/withdraw/{token}?saved=1", status_code=303)


@post("/withdraw/{token:str}")
async def withdraw(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    now = services.clock()
    target = await services.write(lambda session: signing.withdraw(session, token, now))
    await services.scrub()
    return Redirect(f"/c/{target.campaign.slug}/withdrawn", status_code=303)


@get("/c/{slug:str}/withdrawn")
async def withdrawn(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    state = await campaign_state(services, slug)
    return render(request, services, "withdrawn.html", {"campaign": state.campaign})


@get("/healthz", media_type="text/plain", sync_to_thread=False)
def health() -> str:
    """The process answers: nothing more is asked (GET /readyz asks the database and the rest)."""
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
        "sealed": target.signature.sealed is not None,
        "saved": request.query_params.get("saved") == "1",
        "errors": errors,
    }
    status = 422 if errors else 200
    return render(request, services, "withdraw.html", context, status_code=status)


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
    version, versions = chosen_version(request, services, campaign)
    state = services.hub.current(campaign.id)  # the live snapshot, as the count: no query
    context = {
        "campaign": campaign,
        "version": version,
        "versions": versions,
        "version_query": version_query(version, versions),
        "count": count,
        "milestones": state.milestones if state is not None else (),
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
            "excerpt": campaigns.excerpt(version.body_html),
        },
    }
    return render(request, services, "campaign.html", context, status_code=status_code)
