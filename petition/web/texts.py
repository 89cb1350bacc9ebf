"""Editors give the campaign's text in more languages; public pages choose the version shown."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from petition import audit, texts
from petition.campaigns import render_markdown
from petition.forms import Errors
from petition.models import Campaign, CampaignText, Organiser, Role
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import locale_of, render

AnyRequest = Request[Any, Any, Any]
FIELDS = ("language", "title", "body", "kit_subject", "kit_body")


def chosen_version(
    request: AnyRequest, services: Services, campaign: Campaign
) -> tuple[texts.Version, list[texts.Version]]:
    """The version a public page shows (?version=, else the interface's language, else the
    campaign's own), and all of them, from the live snapshot: no query."""
    state = services.hub.current(campaign.id)
    available = texts.versions(campaign, state.texts if state is not None else ())
    asked = request.query_params.get("version")
    return texts.choose(available, asked, locale_of(request)), available


def version_query(version: texts.Version, available: list[texts.Version]) -> str:
    """What links to the campaign's other pages add to carry the version shown (if any)."""
    return f"?version={version.language}" if len(available) > 1 else ""


@get("/dashboard/c/{slug:str}/texts", dependencies=SIGNED_IN)
async def texts_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    """The versions there are; ?language= opens one in the form, to change it."""
    editing = request.query_params.get("language", "")
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        listed = await texts.listed(session, campaign.id)
    values = next((_values(row) for row in listed if row.language == editing), {})
    return _page(request, services, campaign, role, listed, values, {})


@post("/dashboard/c/{slug:str}/texts", dependencies=SIGNED_IN)
async def save_text(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """Add or change the version in one language, or only preview it ("preview")."""
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in FIELDS}
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        draft = texts.parse(values, own_language=campaign.language)
        if isinstance(draft, dict) or form.get("preview"):
            listed = await texts.listed(session, campaign.id)
            if isinstance(draft, dict):
                return _page(request, services, campaign, role, listed, values, draft)
            return _page(request, services, campaign, role, listed, values, {}, draft)
        now = services.clock()
        new = await texts.save(session, campaign, draft, now)
        action = "add version" if new else "edit version"
        await audit.record(
            session, campaign, organiser, action, {"language": draft.language}, 0, now
        )
    return Redirect(f"/dashboard/c/{slug}/texts", status_code=303)


@post("/dashboard/c/{slug:str}/texts/{language:str}/remove", dependencies=SIGNED_IN)
async def remove_text(
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    language: FromPath[str],
) -> Response[Any]:
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        if texts.is_language(language) and await texts.remove(session, campaign, language):
            now = services.clock()
            details = {"language": language}
            await audit.record(session, campaign, organiser, "remove version", details, 0, now)
    return Redirect(f"/dashboard/c/{slug}/texts", status_code=303)


def _page(
    request: AnyRequest,
    services: Services,
    campaign: Campaign,
    role: Role,
    listed: list[CampaignText],
    values: dict[str, str],
    errors: Errors,
    preview: texts.Draft | None = None,
) -> Response[str]:
    locale = locale_of(request)
    names = dict(texts.choices(locale))
    context = {
        "campaign": campaign,
        "role": role,
        "versions": listed,
        "names": names,
        "choices": [(code, name) for code, name in texts.choices(locale)
                    if code != campaign.language],
        "values": values,
        "errors": errors,
        "preview": preview,
        "preview_html": render_markdown(preview.body_markdown) if preview else None,
    }  # fmt: skip
    status = 422 if errors else 200
    return render(request, services, "organiser/texts.html", context, status_code=status)


def _values(row: CampaignText) -> dict[str, str]:
    return {
        "language": row.language,
        "title": row.title,
        "body": row.body_markdown,
        "kit_subject": row.kit_subject or "",
        "kit_body": row.kit_body or "",
    }
