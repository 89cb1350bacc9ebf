"""Nothing leaves the server: no page or stylesheet points at another host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from petition.settings import Settings
from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
# Whatever the browser fetches or submits by itself: scripts, images, frames, stylesheets,
# icons, fonts, forms. Plain links (<a href>, and the canonical address of a page, which is
# our own) are not fetched: navigations the visitor chooses are allowed.
_EXTERNAL = re.compile(
    r"""(?:src|srcset|action|formaction|poster|data)\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b(?![^>]*rel="canonical")[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//|@import\s+["']?(?:https?:)?//"""
)
_EXTERNAL_LINK = re.compile(r"<a\b[^>]*\bhref=\"https?://(?!127\.0\.0\.1)[^\"]*\"[^>]*>")


def test_templates_and_static_files_reference_only_our_origin() -> None:
    files = [
        *ROOT.joinpath("templates").rglob("*.html"),
        *ROOT.joinpath("petition", "static").rglob("*"),
    ]
    offenders = [
        str(f.relative_to(ROOT)) for f in files if f.is_file() and _EXTERNAL.search(f.read_text())
    ]
    # Mail bodies link to our own public address through variables, never a literal host.
    assert offenders == []


@pytest.mark.usefixtures("campaign")
async def test_served_pages_load_only_our_own_assets(
    server: LiveServer, settings: Settings
) -> None:
    async with server.client() as browser:
        for path in (
            "/",
            "/c/mission-sante",
            "/c/mission-sante/thanks",
            "/c/mission-sante/signatories",
            "/c/mission-sante/widget",
            "/nowhere",
        ):
            page = await browser.get(path)
            assert not _EXTERNAL.search(page.text), path
            for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
                assert (await browser.get(asset)).status_code == 200
            # Our scripts only, from files: no inline code a policy would have to allow.
            scripts = re.findall(r"<script\b[^>]*>", page.text)
            assert all(re.search(r'src="/static/[a-z/]+(\.min)?\.js"', tag) for tag in scripts), path
            assert "<script>" not in page.text and "</script>" not in page.text.replace(
                "></script>", ""
            )
            # Share links leave for other sites only when clicked, telling them nothing.
            for link in _EXTERNAL_LINK.findall(page.text):
                if f'href="{settings.public_url}/' in link:
                    continue  # our own address, as the widget links to it from other sites
                assert 'rel="noopener noreferrer"' in link, link
