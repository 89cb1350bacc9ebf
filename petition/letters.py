"""Open letters as documents: the printable page and its PDF, rendered by the server."""

from __future__ import annotations

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
