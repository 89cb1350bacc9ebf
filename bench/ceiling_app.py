"""The framework's ceiling for `count_reads.py`: one Litestar GET handler, constant small JSON.

Served by uvicorn with the options `petition serve` uses (one worker, no access log, no Server
header, no proxy headers), so that the difference with petition's own reads is petition's work.

    .venv/bin/python bench/ceiling_app.py HOST PORT
"""

from __future__ import annotations

import sys

import uvicorn
from litestar import Litestar, get

PATH = "/ceiling"
# About the size of a count: what a minimal API endpoint would answer.
DOCUMENT = {"count": 123456, "goal": 1000000, "status": "open", "last_signature_at": None}


@get(PATH)
async def ceiling() -> dict[str, object]:
    return DOCUMENT


def create_app() -> Litestar:
    return Litestar(route_handlers=[ceiling], openapi_config=None)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: ceiling_app.py HOST PORT", file=sys.stderr)
        return 2
    # The options of petition.cli._serve; uvicorn picks the same HTTP parser and event loop
    # (httptools and uvloop if installed, else h11 and asyncio) for both servers.
    uvicorn.run(
        "ceiling_app:create_app",  # this file's directory is first on sys.path
        factory=True,
        host=argv[0],
        port=int(argv[1]),
        workers=1,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
