"""Headers every answer carries: no sniffing, no Referer to other sites, no framing."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
# Framing is refused unless a route says otherwise (the embeddable widget).
_NOT_FRAMEABLE = (
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
)


def security_headers(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                added = [(n, v) for n, v in _ALWAYS if n not in present]
                if b"content-security-policy" not in present:
                    added += [(n, v) for n, v in _NOT_FRAMEABLE if n not in present]
                message = {**message, "headers": headers + added}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
