"""An open letter with its published signatories: as a printable page, and as a PDF."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from petition import campaigns, letters
from petition.web.caching import public_cache_control
from petition.web.deps import Services, ServicesDep
from petition.web.pages import campaign_state, disposition, render, render_body
from petition.web.texts import chosen_version, version_query

AnyRequest = Request[Any, Any, Any]


@get("/c/{slug:str}/letter", summary="The letter and its published signatories (printable)")
async def letter_page(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    context = await _context(request, services, slug)
    headers = {"Cache-Control": public_cache_control(services.settings, max_age=60)}
    return render(request, services, "letter.html", context, headers=headers)


@get(
    "/c/{slug:str}/letter.pdf",
    summary="The letter and its published signatories as PDF",
    media_type="application/pdf",
)
async def letter_pdf(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[bytes]:
    context = await _context(request, services, slug)
    # Alone, the document is the whole page: its root carries the language of its text.
    whole = context | {"standalone": True}
    locale, html = render_body(request, services, "letter_document.html", whole)

    async def make() -> bytes:
        return await asyncio.to_thread(letters.pdf, html)

    # One document per interface language and version of the text.
    language = context["version"].language
    document = await services.documents.get(
        ("letter", context["campaign"].id, f"{locale}/{language}"), make
    )
    day = services.clock().date().isoformat()
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Cache-Control": public_cache_control(services.settings, max_age=60),
            "Content-Disposition": disposition(f"{slug}-{day}.pdf", inline=True),
            "Content-Language": locale,
        },
    )


async def _context(request: AnyRequest, services: Services, slug: str) -> dict[str, Any]:
    state = await campaign_state(services, slug)
    async with services.reading() as session:
        campaign = await campaigns.get_by_slug(session, slug)
    if campaign is None:
        raise NotFoundException
    groups = await services.letters.get(campaign.id)
    version, versions = chosen_version(request, services, campaign)
    return {
        "campaign": campaign,
        "version": version,
        "versions": versions,
        "version_query": version_query(version, versions),
        "count": state.count,
        "groups": groups,
        "published": sum(len(g.signatories) for g in groups),
        "today": services.clock(),
    }
