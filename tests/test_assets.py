"""Nothing leaves the server: no page or stylesheet points at another host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
_EXTERNAL = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//"""
)


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
async def test_served_pages_load_only_our_own_assets(server: LiveServer) -> None:
    async with server.client() as browser:
        for path in ("/", "/c/mission-sante", "/c/mission-sante/thanks", "/nowhere"):
            page = await browser.get(path)
            assert not _EXTERNAL.search(page.text), path
            for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
                assert (await browser.get(asset)).status_code == 200
        assert "<script" not in page.text
