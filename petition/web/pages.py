"""Rendering pages in the visitor's language, with the pieces every page needs."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, TypeAlias
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.utils.scope.state import ScopeState

from petition import clients, i18n, tokens
from petition.live import CampaignState
from petition.web.deps import Services

LANG_COOKIE = "lang"
# Row ids and version numbers in paths: no row has a larger one, and a database driver could not
# even bind a number past 64 bits. Anything else is a bad request, answered as such.
MAX_ROW_ID = 2**31 - 1
RowId: TypeAlias = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
HTML = "text/html"  # Litestar adds "; charset=utf-8"


def locale_of(request: Request[Any, Any, Any]) -> str:
    explicit = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return i18n.negotiate(request.headers.get("accept-language"), explicit)


def render(
    request: Request[Any, Any, Any],
    services: Services,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    locale, body = render_body(request, services, template, context)
    return Response(
        body,
        status_code=status_code,
        media_type=HTML,
        headers={"Content-Language": locale, **(headers or {})},
        cookies=_language_cookie(request, services),
    )


def render_body(
    request: Request[Any, Any, Any],
    services: Services,
    template: str,
    context: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The page's language and text, for handlers that build their own response."""
    locale = locale_of(request)
    values = {
        **(context or {}),
        "locale": locale,
        "other_locale": "en" if locale == "fr" else "fr",
        "path": request.url.path,
        "csrf_token": ScopeState.from_scope(request.scope).csrf_token or "",
        "tz": services.settings.timezone,
    }
    with i18n.using(services.catalogs, locale):
        return locale, services.pages.get_template(template).render(values)


def _language_cookie(request: Request[Any, Any, Any], services: Services) -> list[Cookie]:
    """A visible language choice (?lang=) is remembered for the next pages."""
    cookies = []
    chosen = request.query_params.get("lang")
    if chosen in i18n.LOCALES:
        cookies.append(
            Cookie(
                key=LANG_COOKIE,
                value=chosen,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="lax",
                secure=services.settings.secure_cookies,
            )
        )
    return cookies


def disposition(name: str, *, inline: bool = False) -> str:
    """A Content-Disposition for a file called `name`, whatever its letters (RFC 6266): an ASCII
    name for every client, and the exact one, percent-encoded in UTF-8, for those that read it."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = "".join(c if c.isalnum() or c in "-_." else "-" for c in plain) or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def link_problem(
    request: Request[Any, Any, Any], services: Services, problem: tokens.LinkError, *, kind: str
) -> Response[str]:
    """A clear page for a link that cannot be used: unknown (404), expired or used (410)."""
    status = 410 if isinstance(problem, tokens.ExpiredLink | tokens.UsedLink) else 404
    context = {"reason": type(problem).__name__, "kind": kind}
    return render(request, services, "link_problem.html", context, status_code=status)


async def campaign_state(services: Services, slug: str) -> CampaignState:
    """A campaign as the public sees it, from the process's live snapshot; 404 if unknown."""
    state = await services.hub.by_slug(slug)
    if state is None:
        raise NotFoundException
    return state


def client_of(request: Request[Any, Any, Any], services: Services) -> str:
    """The client's address (for limits only, never stored): the peer, or what a configured
    reverse proxy says; an X-Forwarded-For from anyone else is ignored."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return clients.client_address(peer, forwarded, services.settings.proxies)
