"""/static: our own files, fingerprinted names kept a year, text sent gzipped when asked."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from petition.assets import accepts_gzip
from petition.web.deps import ServicesDep

AnyRequest = Request[Any, Any, Any]


# Search engines may read campaigns and their public pages; never a mailed link's page, nor
# the organisers' side (those answer no-store and carry no index anyway).
ROBOTS = """User-agent: *
Disallow: /dashboard
Disallow: /organiser
Disallow: /manage
Disallow: /confirm/
Disallow: /withdraw/
Disallow: /api/
"""


@get("/robots.txt", include_in_schema=False, media_type="text/plain")
async def robots() -> Response[str]:
    return Response(
        ROBOTS, media_type="text/plain", headers={"Cache-Control": "public, max-age=86400"}
    )


@get("/static/{path:path}", include_in_schema=False)
async def static_file(
    request: AnyRequest, services: ServicesDep, path: FromPath[str]
) -> Response[bytes]:
    found = services.assets.find(path.lstrip("/"))
    if found is None:
        raise NotFoundException()
    asset = found.asset
    etag = f'"{asset.digest}"'
    headers = {"Cache-Control": found.cache_control, "ETag": etag}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)
