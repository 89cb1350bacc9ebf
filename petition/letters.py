"""Open letters as documents: the printable page and its PDF, rendered by the server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import weasyprint

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _local_only(url: str, timeout: int = 10, ssl_context: Any = None) -> dict[str, Any]:
    """Nothing leaves the server: a document may use our own files, and nothing else."""
    if url.startswith("file://") and Path(url.removeprefix("file://")).resolve().is_relative_to(
        STATIC_DIR
    ):
        return weasyprint.default_url_fetcher(url, timeout, ssl_context)  # type: ignore[no-any-return]  # weasyprint is untyped
    raise ValueError("documents may not fetch anything from elsewhere")


def pdf(html: str) -> bytes:
    """The letter as PDF, with our print stylesheet (CPU-bound: call it in a thread)."""
    document = weasyprint.HTML(
        string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=_local_only
    )
    stylesheet = weasyprint.CSS(filename=str(STATIC_DIR / "print.css"), url_fetcher=_local_only)
    result: bytes = document.write_pdf(stylesheets=[stylesheet])  # no target: the bytes
    return result


class Memo:
    """Documents rendered at most once per `ttl` seconds per key, in a worker thread."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._done: dict[tuple[object, ...], tuple[float, bytes]] = {}
        self._locks: dict[tuple[object, ...], asyncio.Lock] = {}

    async def get(self, key: tuple[object, ...], make: Callable[[], Awaitable[bytes]]) -> bytes:
        loop = asyncio.get_running_loop()
        async with self._locks.setdefault(key, asyncio.Lock()):
            done = self._done.get(key)
            if done is not None and loop.time() - done[0] < self._ttl:
                return done[1]
            result = await make()
            self._done[key] = (loop.time(), result)
            return result
