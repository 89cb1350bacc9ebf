"""The public list of signatories: those who agreed to be published, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import FromPath, QueryParameter

from petition import published
from petition.web.caching import public_cache_control
from petition.web.deps import ServicesDep
from petition.web.pages import campaign_state, render

AnyRequest = Request[Any, Any, Any]


@get("/c/{slug:str}/signatories", summary="Published signatories (page)")
async def signatories_page(
    request: AnyRequest,
    services: ServicesDep,
    slug: FromPath[str],
    cursor: Annotated[
        str | None, QueryParameter(description="From the link to earlier ones.")
    ] = None,
) -> Response[str]:
    state = await campaign_state(services, slug)
    async with services.reading() as session:
        page = await published.signatories(session, state.id, cursor)
    context = {"state": state, "page": page, "first_page": not cursor}
    headers = {"Cache-Control": public_cache_control(services.settings, max_age=30)}
    return render(request, services, "signatories.html", context, headers=headers)
