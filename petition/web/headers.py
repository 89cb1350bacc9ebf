"""Headers every answer carries.

A strict Content-Security-Policy (our own origin only, no inline script or style, no plugins;
WebAssembly only on the organisers' key pages),
no MIME sniffing, no Referer to other sites, no framing except where a route allows it (the
embeddable widget answers `Content-Security-Policy: frame-ancestors *`, which is kept as its
framing rule), and HSTS when the site is served over HTTPS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from litestar.enums import ScopeType
from litestar.types import Message, Scope

POLICY = (
    "default-src 'self'; script-src 'self'{wasm}; style-src 'self'; img-src 'self' data:; "
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
# Pages reached by a secret link or showing private data (the organisers' side, mailed links,
# the filled-in action kit): never stored by a browser or proxy, and no Referer that could
# carry a token elsewhere — set here once, for handlers and error pages alike.
PRIVATE_PATHS = re.compile(r"^/(dashboard|organiser)|^/(manage|confirm|withdraw)/|^/c/[^/]+/kit$")
_PRIVATE = ((b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer"))
_CSP = b"content-security-policy"
# The key pages run libsodium compiled to WebAssembly: their policy alone allows compiling it
# (not eval, not inline script).
KEY_PAGES = re.compile(r"^/organiser/(key|open)$|^/dashboard/new$|^/dashboard/c/[^/]+/keys$")
_WASM = " 'wasm-unsafe-eval'"


def security_headers_for(*, https: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A hook run on every response start, unmatched paths (404) and errors included;
    `https` when the public address is https:// (then HSTS is sent)."""

    async def before_send(message: Message, scope: Scope) -> None:
        if scope["type"] != ScopeType.HTTP or message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        if PRIVATE_PATHS.match(str(scope.get("path", ""))):
            headers = _private(headers)
        wasm = bool(KEY_PAGES.match(str(scope.get("path", ""))))
        message["headers"] = _secured(headers, https, wasm=wasm)

    return before_send


def _private(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {name for name, _value in _PRIVATE}
    return [(n, v) for n, v in headers if n.lower() not in names] + list(_PRIVATE)


def _secured(
    headers: list[tuple[bytes, bytes]], https: bool, *, wasm: bool = False
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _value in headers}
    frameable = any(
        name.lower() == _CSP and b"frame-ancestors *" in value for name, value in headers
    )
    kept = [(n, v) for n, v in headers if n.lower() != _CSP]
    ancestors = "*" if frameable else "'none'"
    kept.append((_CSP, POLICY.format(ancestors=ancestors, wasm=_WASM if wasm else "").encode()))
    if not frameable and b"x-frame-options" not in present:
        kept.append((b"x-frame-options", b"DENY"))
    kept += [(n, v) for n, v in _ALWAYS if n not in present]
    if https:
        kept.append(HSTS)
    return kept
