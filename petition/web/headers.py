"""Headers every answer carries.

A strict Content-Security-Policy (our own origin only, no inline script or style, no plugins),
no MIME sniffing, no Referer to other sites, no framing except where a route allows it (the
embeddable widget answers `Content-Security-Policy: frame-ancestors *`, which is kept as its
framing rule), and HSTS when the site is served over HTTPS.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_CSP = b"content-security-policy"


def security_headers_for(*, https: bool) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware; `https` when the public address is https:// (then HSTS is sent)."""

    def security_headers(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {
                        **message,
                        "headers": _secured(list(message.get("headers", [])), https),
                    }
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return security_headers


def _secured(headers: list[tuple[bytes, bytes]], https: bool) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _value in headers}
    frameable = any(
        name.lower() == _CSP and b"frame-ancestors *" in value for name, value in headers
    )
    kept = [(n, v) for n, v in headers if n.lower() != _CSP]
    ancestors = "*" if frameable else "'none'"
    kept.append((_CSP, POLICY.format(ancestors=ancestors).encode()))
    if not frameable and b"x-frame-options" not in present:
        kept.append((b"x-frame-options", b"DENY"))
    kept += [(n, v) for n, v in _ALWAYS if n not in present]
    if https:
        kept.append(HSTS)
    return kept
