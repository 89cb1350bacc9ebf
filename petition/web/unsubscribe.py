"""Stopping a campaign's news: the link in each mail, and the one-click POST of RFC 8058.

The link's token is the only authority: no cookie is read or set and no CSRF token is asked
(a mail client's one-click POST has neither), and a GET changes nothing, since link checkers
and mail scanners open links on their own. The answer is the same whether the link stopped
something now, had done so before, or never was ours.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from petition import subscriptions
from petition.web import csrf
from petition.web.deps import ServicesDep
from petition.web.pages import render

AnyRequest = Request[Any, Any, Any]
_PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


@get("/unsubscribe/{token:str}", opt=csrf.NO_CSRF_COOKIE)
async def unsubscribe_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.reading() as session:
        found = await subscriptions.find(session, services.secret, token)
    context = {"campaign": found.campaign if found else None, "token": token, "done": False}
    return render(request, services, "unsubscribe.html", context, headers=_PRIVATE)


@post("/unsubscribe/{token:str}", opt=csrf.NO_CSRF_COOKIE, status_code=200)
async def unsubscribe(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    """From our page's button, or a mail client's `List-Unsubscribe=One-Click`: either way
    the address kept for this campaign's news is erased now."""
    now = services.clock()
    campaign = await services.write(
        lambda session: subscriptions.unsubscribe(session, services.secret, token, now)
    )
    if campaign is not None:
        await services.scrub()
    context = {"campaign": campaign, "token": token, "done": True}
    return render(request, services, "unsubscribe.html", context, headers=_PRIVATE)
