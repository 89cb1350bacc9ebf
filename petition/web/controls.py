"""Addresses no page has: a NUL or another control character in the path or the query.

No route, slug, token or search takes one, and databases refuse some of them (PostgreSQL holds
no NUL in text; a file name with one cannot even be looked up): such a request is answered as
what it is, an address not found (path) or a request not understood (query), before any
handler or file lookup sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException, ValidationException

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

_CONTROLS = frozenset(range(0x20)) | {0x7F}


class RefuseControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            if _has_control(scope["path"].encode("utf-8", "surrogateescape")):
                raise NotFoundException
            if _has_control(unquote_to_bytes(scope.get("query_string", b""))):
                raise ValidationException("control character in the query string")
        await self.app(scope, receive, send)


def _has_control(raw: bytes) -> bool:
    return any(byte in _CONTROLS for byte in raw)
