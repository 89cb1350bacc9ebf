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
            ours = r'src="/static/[a-z/]+(\.min)?(\.[0-9a-f]{12})?\.js"'
            assert all(re.search(ours, tag) for tag in scripts), path
            assert "<script>" not in page.text and "</script>" not in page.text.replace(
                "></script>", ""
            )
            # Share links leave for other sites only when clicked, telling them nothing.
            for link in _EXTERNAL_LINK.findall(page.text):
                if f'href="{settings.public_url}/' in link:
                    continue  # our own address, as the widget links to it from other sites
                assert 'rel="noopener noreferrer"' in link, link


# What the widget's bundle mentions without ever fetching it: XML namespaces (for creating SVG
# and MathML elements), the documentation links of its framework's error messages, and its
# maker's site in a credit line that our configuration hides (hideFooter).
_VENDOR_MENTIONS = re.compile(
    r"^https?://(www\.w3\.org/(1998/Math/MathML|1999/xhtml|2000/svg)"
    r"|svelte\.dev/e/[a-z_]*|altcha\.org/?)$"
)
_ANY_URL = re.compile(r"""https?://[^\s"'`<>)\\]+""")


def test_our_scripts_and_styles_name_no_other_host() -> None:
    ours = [
        f
        for f in ROOT.joinpath("petition", "static").rglob("*")
        if f.is_file() and "vendor" not in f.parts
    ]
    assert {f.name for f in ours} >= {"site.css", "live.js", "pow.js"}
    for f in ours:
        assert _ANY_URL.findall(f.read_text()) == [], f.name


def test_the_proof_of_work_widget_fetches_only_from_us() -> None:
    vendor = ROOT.joinpath("petition", "static", "vendor", "altcha")
    if not vendor.joinpath("altcha.min.js").exists():
        pytest.skip("the widget is not built here (npm was not found at setup)")
    for f in vendor.iterdir():
        if f.suffix not in {".js", ".css"}:
            continue
        text = f.read_text()
        mentioned = set(_ANY_URL.findall(text))
        assert {url for url in mentioned if not _VENDOR_MENTIONS.match(url)} == set(), f.name
        # Nothing is loaded by the bundle itself from an absolute address.
        assert not re.search(r"""(fetch|import|importScripts|Worker)\(\s*["'`]https?:""", text)
        assert not _EXTERNAL.search(text), f.name
