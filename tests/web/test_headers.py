"""What every answer tells the browser: a strict policy, no framing, nothing cached that is
private, HSTS over HTTPS, and no server banner."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import link, press, sign, signer
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
PUBLIC = ("/", f"/c/{SLUG}", f"/c/{SLUG}/privacy", f"/c/{SLUG}/signatories", "/manage", "/nowhere")


def policy(answer: httpx.Response) -> dict[str, str]:
    parts = (p.strip().partition(" ") for p in answer.headers["content-security-policy"].split(";"))
    return {name: value for name, _, value in parts if name}


@pytest.mark.usefixtures("campaign")
async def test_every_page_carries_a_strict_policy_and_no_banner(server: LiveServer) -> None:
    async with server.client() as browser:
        for path in PUBLIC:
            answer = await browser.get(path)
            rules = policy(answer)
            assert rules["default-src"] == "'self'", path
            assert rules["script-src"] == "'self'", path  # no inline script, no eval, no CDN
            assert rules["style-src"] == "'self'", path
            assert rules["object-src"] == "'none'", path
            assert rules["base-uri"] == "'none'", path
            assert rules["form-action"] == "'self'", path
            assert rules["frame-ancestors"] == "'none'", path
            assert "unsafe" not in answer.headers["content-security-policy"], path
            assert answer.headers["x-content-type-options"] == "nosniff", path
            assert answer.headers["x-frame-options"] == "DENY", path
            assert answer.headers["referrer-policy"] in {"same-origin", "no-referrer"}, path
            assert "server" not in answer.headers, path
            assert "strict-transport-security" not in answer.headers, path  # plain http here
        widget = await browser.get(f"/c/{SLUG}/widget")
        assert policy(widget)["frame-ancestors"] == "*"
        assert policy(widget)["script-src"] == "'self'"


@pytest.mark.usefixtures("campaign")
async def test_hsts_is_sent_when_the_site_is_served_over_https(
    settings: Settings, clock: FakeClock
) -> None:
    over_https = dataclasses.replace(settings, base_url="https://petition.example")
    async with serve(over_https, clock) as server, server.client() as browser:
        for path in PUBLIC:
            answer = await browser.get(path)
            assert answer.headers["strict-transport-security"].startswith("max-age="), path
            assert int(answer.headers["strict-transport-security"][8:].split(";")[0]) >= 15552000


@pytest.mark.usefixtures("campaign")
async def test_pages_behind_a_secret_link_are_never_stored(
    server: LiveServer, smtp: SmtpSink
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        mail = await smtp.wait_for(1)
        confirm, withdraw = link(mail[0], "confirm"), link(mail[0], "withdraw")
        for path in (confirm, withdraw, "/confirm/" + "x" * 43, "/organiser/login"):
            answer = await browser.get(path)
            assert answer.headers["cache-control"] == "no-store", path
            assert answer.headers["referrer-policy"] == "no-referrer", path
        await press(browser, confirm)
        public = await browser.get(f"/c/{SLUG}")
        assert "no-store" not in public.headers.get("cache-control", "")
