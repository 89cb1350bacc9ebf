"""Static files under fingerprinted names, kept a year by browsers, compressed once.

Pages name each file by its content (`site.css` is linked as `/static/site.3f2a91c07b1e.css`):
a new release changes the name, so browsers may keep a file for a year without asking
(`immutable`). The plain name still answers, with a short cache, for what scripts load by
themselves (the proof-of-work widget's worker, libsodium). Text files are gzipped once, in
memory, and sent compressed to browsers that ask for it. The brand's stylesheet and logo come
from the settings and are served the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from petition.brand import LOGO_TYPES, Brand

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_COMPRESSED = 1024
_FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
BRAND_CSS = "brand.css"
BRAND_LOGO = "brand-logo"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str
    gzipped: bytes | None  # None when compressing would not pay


@dataclass(frozen=True)
class Found:
    asset: Asset
    cache_control: str


class Assets:
    """The files under /static, by their plain names; read on first use, then kept."""

    def __init__(self, directory: Path, brand: Brand) -> None:
        self._directory = directory.resolve()
        self._kept: dict[str, Asset] = {}
        self._generated: dict[str, tuple[bytes, str]] = {
            BRAND_CSS: (brand.css().encode(), "text/css")
        }
        if brand.logo is not None:
            suffix = brand.logo.suffix.lower()
            self._generated[BRAND_LOGO + suffix] = (brand.logo.read_bytes(), LOGO_TYPES[suffix])
        self.logo_name = next((n for n in self._generated if n.startswith(BRAND_LOGO)), None)

    def url(self, name: str) -> str:
        """The address of a file that pages link to: by its content, kept for good."""
        asset = self.get(name)
        if asset is None:
            if name.startswith("vendor/"):  # built by npm at set-up; without npm, not there
                return f"/static/{name}"
            raise LookupError(f"no static file {name!r}")
        stem, dot, suffix = name.rpartition(".")
        return f"/static/{stem}.{asset.digest}{dot}{suffix}"

    def get(self, name: str) -> Asset | None:
        if (kept := self._kept.get(name)) is not None:
            return kept
        loaded = self._generated.get(name) or self._read(name)
        if loaded is None:
            return None
        body, media_type = loaded
        asset = Asset(
            body, media_type, hashlib.sha256(body).hexdigest()[:12], _gzipped(body, media_type)
        )
        self._kept[name] = asset
        return asset

    def find(self, path: str) -> Found | None:
        """The file a /static/ path names, and how long it may be kept."""
        if (match := _FINGERPRINTED.match(path)) is not None:
            plain = match["stem"] + match["suffix"]
            asset = self.get(plain)
            if asset is not None:
                # An older release's name gets today's file, but not for a year.
                current = asset.digest == match["digest"]
                return Found(asset, IMMUTABLE if current else SHORT)
        asset = self.get(path)
        return None if asset is None else Found(asset, SHORT)

    def _read(self, name: str) -> tuple[bytes, str] | None:
        path = (self._directory / name).resolve()
        if not path.is_relative_to(self._directory) or not path.is_file():
            return None
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type == "text/javascript":
            media_type = "application/javascript"
        return path.read_bytes(), media_type


def _gzipped(body: bytes, media_type: str) -> bytes | None:
    if len(body) < MIN_COMPRESSED or not media_type.startswith(COMPRESSIBLE):
        return None
    # mtime=0: the same bytes on every start and every process, so validators agree.
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return packed if len(packed) < len(body) * 0.9 else None


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the Accept-Encoding header admits gzip (q=0 refuses it)."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in {"gzip", "*"}:
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False
