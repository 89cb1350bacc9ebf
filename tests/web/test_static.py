"""Static files: linked by their content's name and kept a year, compressed, ours alone."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from petition.brand import BrandError, contrast
from petition.settings import Settings, SettingsError
from tests.support.clock import FakeClock
from tests.support.server import LiveServer, serve

STATIC = Path(__file__).resolve().parents[2] / "petition" / "static"


def linked(page: str, name: str) -> str:
    stem, suffix = name.rsplit(".", 1)
    match = re.search(rf'"(/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.{suffix})"', page)
    assert match, f"{name} is not linked by a fingerprinted name"
    return match[1]


@pytest.mark.usefixtures("campaign")
async def test_pages_link_fingerprinted_files_kept_a_year_and_sent_gzipped(
    server: LiveServer,
) -> None:
    async with server.client() as browser:
        page = (await browser.get("/c/mission-sante")).text
        url = linked(page, "site.css")
        plain = (STATIC / "site.css").read_bytes()

        kept = await browser.get(url, headers={"Accept-Encoding": "gzip"})
        assert kept.status_code == 200
        assert kept.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert kept.headers["content-encoding"] == "gzip"
        assert kept.headers["vary"] == "Accept-Encoding"
        assert kept.content == plain  # httpx undoes the gzip: the file itself
        assert int(kept.headers["content-length"]) < len(plain) / 2

        raw = await browser.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers and raw.content == plain

        again = await browser.get(url, headers={"If-None-Match": kept.headers["etag"]})
        assert again.status_code == 304 and again.content == b""

        # The plain name still answers (scripts load their workers by it), for a short while.
        short = await browser.get("/static/site.css")
        assert short.status_code == 200 and short.headers["cache-control"] == "public, max-age=300"
        # An older release's name gets today's file, not for a year.
        stale = await browser.get("/static/site.000000000000.css")
        assert stale.content == plain and "immutable" not in stale.headers["cache-control"]


async def test_only_files_of_the_static_folder_are_served(server: LiveServer) -> None:
    async with server.client() as browser:
        for path in (
            "/static/../pyproject.toml",
            "/static/%2e%2e/settings.py",
            "/static/..%2fapp.py",
            "/static/nothing.css",
            "/static/",
        ):
            assert (await browser.get(path)).status_code == 404, path


async def test_the_organisations_accent_reaches_pages_through_its_stylesheet(
    settings: Settings, clock: FakeClock
) -> None:
    branded = dataclasses.replace(settings, site_accent="#7a1f5c", site_name="Collectif Santé")
    async with serve(branded, clock) as server, server.client() as browser:
        page = (await browser.get("/")).text
        css = (await browser.get(linked(page, "brand.css"))).text
    assert "--color-accent:#7a1f5c" in css
    assert "<title>Collectif Santé</title>" in page and ">Collectif Santé</a>" in page
    # The dark scheme's shade is lighter, and still readable on the dark background.
    dark = re.search(r"prefers-color-scheme: dark\)\{:root\{--color-accent:(#[0-9a-f]{6})", css)
    assert dark and contrast(dark[1], "#14161a") >= 4.5


def test_an_accent_too_light_for_white_text_is_refused() -> None:
    with pytest.raises(SettingsError, match="too light"):
        Settings.from_env({"PETITION_SITE_ACCENT": "#ffcc00"})
    with pytest.raises(SettingsError, match="#0b5cad"):
        Settings.from_env({"PETITION_SITE_ACCENT": "blue"})
    with pytest.raises(SettingsError, match="PETITION_SITE_LOGO"):
        Settings.from_env({"PETITION_SITE_LOGO": "/nowhere/logo.svg"})
    assert issubclass(BrandError, ValueError)


async def test_the_logo_is_served_by_us_beside_the_name(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    branded = dataclasses.replace(settings, site_logo=str(logo))
    async with serve(branded, clock) as server, server.client() as browser:
        page = (await browser.get("/")).text
        url = linked(page, "brand-logo.svg")
        served = await browser.get(url)
    assert served.headers["content-type"] == "image/svg+xml"
    assert served.content == logo.read_bytes()


async def test_robots_may_read_campaigns_but_not_mailed_links_or_the_dashboard(
    server: LiveServer,
) -> None:
    async with server.client() as browser:
        robots = await browser.get("/robots.txt")
    rules = robots.text.splitlines()
    assert robots.headers["content-type"].startswith("text/plain")
    assert "User-agent: *" in rules
    for path in ("/dashboard", "/organiser", "/manage", "/confirm/", "/withdraw/"):
        assert f"Disallow: {path}" in rules
    assert not any(rule in {"Disallow: /", "Disallow: /c", "Disallow: /c/"} for rule in rules)
