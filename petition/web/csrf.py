"""Cross-site request forgery: a signed token in every form, and no state change from elsewhere.

Litestar's double-submit token (a cookie and the form's `_csrf_token`, HMAC-signed) is checked on
every unsafe request, and before it, as OWASP's CSRF guidance recommends in addition to tokens,
where the request comes from: `Sec-Fetch-Site` when the browser sends it (every current one
does), else `Origin`. Nothing is excluded by path: the few public reads that must never set a
cookie (so that proxies can cache them) say so themselves, with `NO_CSRF_COOKIE` in their `opt`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie, Headers, UploadFile
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, CSRFMiddleware, generate_csrf_token
from litestar.utils.scope.state import ScopeState

from petition.settings import Settings

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

COOKIE = "csrftoken"
# Put in a handler's or router's `opt`: no token checked and, above all, no cookie set.
NO_CSRF_COOKIE = {"exclude_from_csrf": True}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# A token is 64 hex characters of secret and 64 of its HMAC.
TOKEN_LENGTH = 2 * CSRF_SECRET_LENGTH
# "none": the person typed the address or used a bookmark; never a page of another site.
_OWN_SITE = frozenset({"same-origin", "none"})


def middleware(settings: Settings, secret: bytes) -> DefineMiddleware:
    return DefineMiddleware(
        SiteCSRF, config=config(settings, secret), public_origin=_origin(settings.public_url)
    )


def config(settings: Settings, secret: bytes) -> CSRFConfig:
    return CSRFConfig(
        secret=secret.decode(),
        cookie_name=COOKIE,
        cookie_httponly=True,
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
    )


def fresh_cookie(settings: Settings, secret: bytes) -> Cookie:
    """A new token for a browser whose privileges just changed (a login)."""
    same = config(settings, secret)
    return cookie(same, generate_csrf_token(same.secret))


def cookie(config: CSRFConfig, token: str) -> Cookie:
    """The cookie that carries `token`, as Litestar's CSRF middleware sets it."""
    return Cookie(
        key=config.cookie_name,
        value=token,
        path=config.cookie_path,
        httponly=config.cookie_httponly,
        secure=config.cookie_secure,
        samesite=config.cookie_samesite,
        domain=config.cookie_domain,
    )


class SiteCSRF(CSRFMiddleware):
    """Litestar's token check, after refusing what another site's page sent."""

    def __init__(self, app: ASGIApp, config: CSRFConfig, public_origin: str) -> None:
        super().__init__(app, config)
        self._public_origin = public_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        unsafe = scope["type"] == ScopeType.HTTP and scope.get("method", "GET") not in SAFE_METHODS
        if unsafe and not self._from_own_site(Headers.from_scope(scope)):
            raise PermissionDeniedException("cross-site request refused")
        try:
            await super().__call__(scope, receive, send)
        finally:
            await _close_uploads(scope)

    def _from_own_site(self, headers: Headers) -> bool:
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site.strip().lower() in _OWN_SITE
        origin = headers.get("origin")
        # Browsers send "null" on our own pages that ask for no Referer: then the token decides.
        if origin is None or origin == "null":
            return True
        parts = urlsplit(origin)
        # The configured public address, or the host this request was sent to (which another
        # site's page cannot choose), so that http://localhost:8000 works as well in a first try.
        return origin.rstrip("/") == self._public_origin or parts.netloc == headers.get("host")

    def _decode_csrf_token(self, token: Any) -> str | None:
        # Anything but our own token's shape (a file, non-ASCII text) is simply a wrong token:
        # the framework would compare it with hmac.compare_digest, which raises on non-ASCII.
        if not isinstance(token, str) or len(token) != TOKEN_LENGTH or not token.isascii():
            return None
        return super()._decode_csrf_token(token)


async def _close_uploads(scope: Scope) -> None:
    """Files sent in a form (a CSV of addressees, or anything a client put there) are spooled
    to temporary files when the form is read, here or by a handler: closed once it is answered."""
    form = ScopeState.from_scope(scope).form
    if not isinstance(form, dict):
        return
    for value in form.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, UploadFile):
                await item.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
