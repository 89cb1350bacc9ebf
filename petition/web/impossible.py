"""Addresses no page has: a control character in the path or the query, or a path too long.

No route, slug, token, file or search takes a NUL or another control character, and some
cannot even be looked up with one (PostgreSQL holds no NUL in text; a file name with one, or a
name longer than the file system's 255 bytes, makes the lookup itself fail). Such a request is
answered as what it is — an address not found (path), a request not understood (query) — before
any handler or file lookup sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException, ValidationException

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

_CONTROLS = frozenset(range(0x20)) | {0x7F}
# Our longest path is a few hundred bytes; file systems name nothing past 255 bytes.
MAX_PATH = 1024
MAX_SEGMENT = 255


class RefuseImpossibleAddresses:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            path = scope["path"].encode("utf-8", "surrogateescape")
            if len(path) > MAX_PATH or _has_control(path) or _has_long_segment(path):
                raise NotFoundException
            if _has_control(unquote_to_bytes(scope.get("query_string", b""))):
                raise ValidationException("control character in the query string")
        await self.app(scope, receive, send)


def _has_control(raw: bytes) -> bool:
    return any(byte in _CONTROLS for byte in raw)


def _has_long_segment(path: bytes) -> bool:
    return any(len(segment) > MAX_SEGMENT for segment in path.split(b"/"))
