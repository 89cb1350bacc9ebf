"""Editors write a campaign's news, look at it, send it to themselves, then to its readers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit, organisers, subscriptions, tokens, updates
from petition.forms import clean_email
from petition.i18n import _
from petition.models import Campaign, CampaignUpdate, Organiser, Role
from petition.signing import Links
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, locale_of, render

AnyRequest = Request[Any, Any, Any]
FIELDS = tuple(f"{part}_{lang}" for lang in updates.LANGUAGES for part in ("subject", "body"))


def _base(slug: str) -> str:
    return f"/dashboard/c/{slug}/updates"


async def _page(
    request: AnyRequest,
    services: Services,
    session: AsyncSession,
    campaign: Campaign,
    role: Role,
    organiser: Organiser,
    *,
    news: CampaignUpdate | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response[str]:
    context = {
        "campaign": campaign,
        "role": role,
        "readers": await subscriptions.count(session, campaign.id),
        "listed": await updates.listed(session, campaign.id),
        "news": news,
        "values": values or {},
        "errors": errors or {},
        "notice": notice,
        "languages": updates.LANGUAGES,
        "has_address": organiser.notify_address is not None,
        "batch_size": services.settings.update_batch_size,
        "batch_minutes": services.settings.update_batch_minutes,
    }
    template = "organiser/update.html" if news is not None else "organiser/updates.html"
    return render(request, services, template, context, status_code=status_code)


def _values(news: CampaignUpdate) -> dict[str, str]:
    values = {}
    for language, text in news.texts.items():
        values[f"subject_{language}"] = text.get("subject", "")
        values[f"body_{language}"] = text.get("body_markdown", "")
    return values


@get("/dashboard/c/{slug:str}/updates", dependencies=SIGNED_IN)
async def updates_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        return await _page(request, services, session, campaign, role, organiser)


@post("/dashboard/c/{slug:str}/updates", dependencies=SIGNED_IN)
async def write_update(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in FIELDS}
    parsed = updates.parse(values)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        if not all(isinstance(v, updates.Text) for v in parsed.values()):
            errors = {k: str(v) for k, v in parsed.items()}
            return await _page(
                request,
                services,
                session,
                campaign,
                role,
                organiser,
                values=values,
                errors=errors,
                status_code=422,
            )
        texts = {k: v for k, v in parsed.items() if isinstance(v, updates.Text)}
        now = services.clock()
        news = await updates.draft(session, campaign, texts, organiser, now)
        details = {"update": news.id, "languages": sorted(texts)}
        await audit.record(session, campaign, organiser, "update draft", details, 0, now)
    return Redirect(f"{_base(slug)}/{news.id}", status_code=303)


async def _news(session: AsyncSession, campaign: Campaign, update_id: int) -> CampaignUpdate:
    news = await updates.get(session, campaign.id, update_id)
    if news is None or news.kind != updates.NEWS:
        raise NotFoundException
    return news


@get("/dashboard/c/{slug:str}/updates/{ident:int}", dependencies=SIGNED_IN)
async def update_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        news = await _news(session, campaign, ident)
        notice = {"test": _("The test is on its way to your address."), "sent": None}.get(
            request.query_params.get("done", "")
        )
        return await _page(
            request,
            services,
            session,
            campaign,
            role,
            organiser,
            news=news,
            values=_values(news),
            notice=notice,
        )


@post("/dashboard/c/{slug:str}/updates/{ident:int}", dependencies=SIGNED_IN)
async def act_on_update(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[Any]:
    """Rewrite a draft, send it as a test, or send it to every reader."""
    form = await request.form()
    action = str(form.get("action", ""))
    now = services.clock()
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        news = await _news(session, campaign, ident)
        here = f"{_base(slug)}/{news.id}"

        async def again(
            errors: dict[str, str], values: dict[str, str] | None = None
        ) -> Response[str]:
            return await _page(
                request,
                services,
                session,
                campaign,
                role,
                organiser,
                news=news,
                values=values or _values(news),
                errors=errors,
                status_code=422,
            )

        if action == "rewrite":
            values = {name: str(form.get(name, "")) for name in FIELDS}
            parsed = updates.parse(values)
            texts = {k: v for k, v in parsed.items() if isinstance(v, updates.Text)}
            if len(texts) != len(parsed):
                return await again({k: str(v) for k, v in parsed.items()}, values)
            if not await updates.rewrite(session, news, texts):
                return await again({"action": _("This news is being sent: it cannot change.")})
            details = {"update": news.id, "languages": sorted(texts)}
            await audit.record(session, campaign, organiser, "update draft", details, 0, now)
            return Redirect(here, status_code=303)
        if action == "test":
            to = organisers.kept_address(services.secret, organiser)
            if to is None:
                typed, _problem = clean_email(str(form.get("email", "")))
                # Their own address only: a test is not a way to mail anyone.
                if typed and tokens.email_hash(services.secret, typed) == organiser.email_hash:
                    to = typed
            if to is None:
                return await again({"email": _("Type the address you sign in with.")})
            await updates.send_test(
                session,
                news,
                campaign,
                to=to,
                locale=locale_of(request),
                links=Links(services.settings.public_url),
                now=now,
            )
            await audit.record(
                session, campaign, organiser, "update test", {"update": news.id}, 0, now
            )
            services.sender.wake()
            return Redirect(f"{here}?done=test", status_code=303)
        if action == "send":
            if form.get("sure") != "yes":
                return await again({"sure": _("Tick the box to send this news to its readers.")})
            readers = await updates.start(session, news, now)
            if readers is None:
                return Redirect(here, status_code=303)
            details = {"update": news.id}
            await audit.record(session, campaign, organiser, "update send", details, readers, now)
            return Redirect(here, status_code=303)
    raise NotFoundException
