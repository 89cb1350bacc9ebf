"""Uptime monitors and link checkers ask with HEAD: every page and file answers it as GET does,
without the body."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.server import LiveServer

SLUG = "mission-sante"
PATHS = [
    "/",
    "/healthz",
    f"/c/{SLUG}",
    f"/c/{SLUG}/privacy",
    f"/c/{SLUG}/signatories",
    f"/c/{SLUG}/widget",
    f"/c/{SLUG}/badge.svg",
    f"/c/{SLUG}/letter",
    "/api/v1/campaigns",
    f"/api/v1/campaigns/{SLUG}",
    "/api/v1/openapi.json",
    "/manage",
    "/organiser/login",
    "/static/site.css",
]


@pytest.mark.usefixtures("campaign")
@pytest.mark.parametrize("path", PATHS)
async def test_head_answers_as_get_without_the_body(path: str, server: LiveServer) -> None:
    async with server.client() as browser:
        get = await browser.get(path)
        head = await browser.head(path)
    assert get.status_code == 200, path
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control", "content-security-policy"):
        assert head.headers.get(name) == get.headers.get(name), name


@pytest.mark.usefixtures("campaign")
async def test_head_on_a_live_stream_answers_at_once(server: LiveServer) -> None:
    async with server.client() as monitor:
        head = await asyncio.wait_for(monitor.head(f"/api/v1/campaigns/{SLUG}/events"), 5)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")


async def test_head_on_an_unknown_page_is_a_404(server: LiveServer) -> None:
    async with server.client() as monitor:
        assert (await monitor.head("/c/nowhere")).status_code == 404
