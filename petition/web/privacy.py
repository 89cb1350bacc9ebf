"""The privacy notice of each campaign, every version of it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from petition import campaigns, privacy
from petition.web.deps import ServicesDep
from petition.web.pages import RowId, render

AnyRequest = Request[Any, Any, Any]


@get("/c/{slug:str}/privacy")
async def notice_page(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[str]:
    async with services.reading() as session:
        campaign = await campaigns.get_by_slug(session, slug)
        if campaign is None:
            raise NotFoundException
        notice = await privacy.shown(session, campaign, services.settings)
    return _page(request, services, campaign, notice, latest=True)


@get("/c/{slug:str}/privacy/{number:int}")
async def notice_version(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str], number: RowId
) -> Response[str]:
    """A former version, as signers under it read it (their consent record names it)."""
    async with services.reading() as session:
        campaign = await campaigns.get_by_slug(session, slug)
        notice = await privacy.version(session, campaign.id, number) if campaign else None
        latest = await privacy.shown(session, campaign, services.settings) if campaign else None
    if campaign is None or notice is None or latest is None:
        raise NotFoundException
    return _page(request, services, campaign, notice, latest=notice.version == latest.version)


def _page(
    request: AnyRequest, services: ServicesDep, campaign: Any, notice: Any, *, latest: bool
) -> Response[str]:
    context = {"campaign": campaign, "notice": notice, "latest": latest}
    return render(request, services, "privacy.html", context)
