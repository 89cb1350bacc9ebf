"""Addresses no page has: a control character in the path or the query, or a path too long.

No route, slug, token, file or search takes a NUL or another control character, and some
cannot even be looked up with one (PostgreSQL holds no NUL in text; a file name with one, or a
name longer than the file system's 255 bytes, makes the lookup itself fail). Such a request is
answered as what it is — an address not found (path), a request not understood (query) — before
any handler or file lookup sees it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException, ValidationException

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# Our longest path is a few hundred bytes; file systems name nothing past 255 bytes.
MAX_PATH = 1024
MAX_SEGMENT = 255


class RefuseImpossibleAddresses:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            path = scope["path"].encode("utf-8", "surrogateescape")
            if len(path) > MAX_PATH or _CONTROL.search(path) or _has_long_segment(path):
                raise NotFoundException
            query = scope.get("query_string", b"")
            if query and _CONTROL.search(unquote_to_bytes(query)):
                raise ValidationException("control character in the query string")
        await self.app(scope, receive, send)


def _has_long_segment(path: bytes) -> bool:
    return len(path) > MAX_SEGMENT and any(len(part) > MAX_SEGMENT for part in path.split(b"/"))
