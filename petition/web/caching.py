"""Answers that any browser or proxy may keep: validators, 304s and Cache-Control."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from litestar import Request, Response

from petition.settings import Settings

# Read by any site: counts are public, and no cookie is ever honoured by these routes.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}


def public_cache_control(settings: Settings, max_age: int | None = None) -> str:
    return (
        f"public, max-age={settings.api_max_age if max_age is None else max_age}, "
        f"stale-while-revalidate={settings.api_stale_while_revalidate}, "
        f"stale-if-error={settings.api_stale_if_error}"
    )


def cacheable(
    request: Request[Any, Any, Any],
    settings: Settings,
    body: bytes,
    media_type: str,
    modified: datetime,
    *,
    max_age: int | None = None,
) -> Response[bytes]:
    """`body` with an ETag of its bytes and Last-Modified; 304 when the client has it already."""
    etag = etag_of(body)
    headers = {
        **CORS,
        "ETag": etag,
        "Last-Modified": format_datetime(modified.replace(microsecond=0), usegmt=True),
        "Cache-Control": public_cache_control(settings, max_age),
        "Vary": "Accept-Encoding",
    }
    if _client_has(request, etag, modified):
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    return Response(body, media_type=media_type, headers=headers)


@functools.lru_cache(maxsize=256)
def etag_of(body: bytes) -> str:
    """A strong validator of these bytes (remembered: the same few bodies are served again)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _client_has(request: Request[Any, Any, Any], etag: str, modified: datetime) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:  # when both are sent, the ETag decides (RFC 9110, 13.2.2)
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return modified.replace(microsecond=0) <= since


class LastEncoded:
    """The last document encoded per campaign, with what it was made of (compared by identity:
    the snapshot and the breakdown are new objects whenever they change)."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[tuple[object, ...], bytes]] = {}

    def get(self, campaign_id: int, key: tuple[object, ...]) -> bytes | None:
        last = self._last.get(campaign_id)
        if last is None or len(last[0]) != len(key):
            return None
        made_of = last[0]
        same = made_of[0] is key[0] and made_of[1] is key[1] and made_of[2:] == key[2:]
        return last[1] if same else None

    def put(self, campaign_id: int, key: tuple[object, ...], body: bytes) -> bytes:
        self._last[campaign_id] = (key, body)
        return body
