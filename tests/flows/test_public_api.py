"""Another site reads counts from the public JSON API: what it lists, how it caches, who may read.

Counts come from a snapshot each process refreshes about once a second after a change, so a
change is awaited for a few seconds (`eventually`) rather than expected at once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest
from openapi_spec_validator import validate

from petition.db import SessionFactory
from petition.models import Campaign, CampaignKind
from tests.support.clock import FakeClock
from tests.support.journey import link, press, sign, signer
from tests.support.public import api, api_count, campaign_on, eventually
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
BASE = "http://petition.test"  # the settings' base_url: links in answers point there
# A Friday in March, before summer time: Paris is UTC+1.
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def others(sessions: SessionFactory, clock: FakeClock, campaign: Campaign) -> None:
    """Besides `mission-sante`: an open letter created later, a closed and an upcoming one."""
    await campaign_on(sessions, clock, "deja-close", closes=date(2030, 2, 20))
    await campaign_on(
        sessions,
        clock,
        "lettre-ars",
        title="Lettre à l'ARS",
        kind=CampaignKind.LETTER,
        goal=None,
        closes=date(2030, 3, 10),
    )
    await campaign_on(sessions, clock, "bientot", opens=date(2030, 4, 1))


@pytest.mark.usefixtures("others")
async def test_the_list_shows_open_campaigns_newest_first_with_their_details(
    server: LiveServer,
) -> None:
    async with server.client() as reader:
        listed = await api(reader, "/api/v1/campaigns")
        assert [c["slug"] for c in listed["campaigns"]] == ["lettre-ars", SLUG]
        letter, petition = listed["campaigns"]
        assert letter == {
            "slug": "lettre-ars",
            "title": "Lettre à l'ARS",
            "kind": "letter",
            "status": "open",
            "count": 0,
            "goal": None,
            "opens_at": None,
            "closes_at": "2030-03-10T23:00:00Z",  # midnight in Paris after the last day
            "last_signature_at": None,
            "url": f"{BASE}/c/lettre-ars",
            "events": f"{BASE}/api/v1/campaigns/lettre-ars/events",
            "paper": 0,
            "languages": ["fr"],
            "titles": {"fr": "Lettre à l'ARS"},
        }
        assert petition["kind"] == "petition" and petition["goal"] == 1000
        assert petition["closes_at"] is None

        detail = await api(reader, f"/api/v1/campaigns/{SLUG}")
        assert detail == {
            "campaign": petition,
            "breakdown": {
                "published": 0,
                "by_role": [],
                "other_roles": 0,
                "by_organisation": [],
                "other_organisations": 0,
            },
            "official": None,
            "milestones": [],
        }
        # Campaigns left out of the list can still be read one by one, with their status.
        closed = await api(reader, "/api/v1/campaigns/deja-close")
        assert closed["campaign"]["status"] == "closed"
        assert closed["campaign"]["closes_at"] == "2030-02-20T23:00:00Z"
        upcoming = await api(reader, "/api/v1/campaigns/bientot")
        assert upcoming["campaign"]["status"] == "upcoming"
        assert upcoming["campaign"]["opens_at"] == "2030-03-31T22:00:00Z"  # summer time


async def test_the_count_follows_a_confirmation_and_a_withdrawal(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock, campaign: Campaign
) -> None:
    async with server.client() as browser, server.client() as reader:
        before = await reader.get(f"/api/v1/campaigns/{SLUG}")
        assert before.json()["campaign"]["count"] == 0

        clock.advance(minutes=5)
        assert (await sign(browser, SLUG, signer("camille@example.org"))).status_code == 303
        [mail] = await smtp.wait_for(1)
        assert await api_count(reader, SLUG) == 0  # pending: not counted

        clock.advance(minutes=5)
        assert (await press(browser, link(mail, "confirm"))).status_code == 303
        await eventually(lambda: api_count(reader, SLUG), lambda n: n == 1)
        after = await reader.get(f"/api/v1/campaigns/{SLUG}")
        assert after.json()["campaign"]["last_signature_at"] == "2030-03-01T12:10:00Z"
        listed = await api(reader, "/api/v1/campaigns")
        assert listed["campaigns"][0]["count"] == 1
        # What a cache kept before the signature is stale: it gets the new count, not a 304.
        assert after.headers["etag"] != before.headers["etag"]
        revalidated = await reader.get(
            f"/api/v1/campaigns/{SLUG}",
            headers={
                "If-None-Match": before.headers["etag"],
                "If-Modified-Since": before.headers["last-modified"],
            },
        )
        assert revalidated.status_code == 200 and revalidated.json()["campaign"]["count"] == 1
        by_date = await reader.get(
            f"/api/v1/campaigns/{SLUG}",
            headers={"If-Modified-Since": before.headers["last-modified"]},
        )
        assert by_date.status_code == 200

        clock.advance(minutes=5)
        assert (await press(browser, link(mail, "withdraw"))).status_code == 303
        await eventually(lambda: api_count(reader, SLUG), lambda n: n == 0)
        gone = await api(reader, f"/api/v1/campaigns/{SLUG}")
        assert gone["campaign"]["last_signature_at"] is None


@pytest.mark.usefixtures("campaign")
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{SLUG}",
        f"/api/v1/campaigns/{SLUG}/signatories",
    ],
)
async def test_a_cache_revalidates_by_etag_or_by_date(server: LiveServer, path: str) -> None:
    async with server.client() as reader:
        first = await reader.get(path)
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert re.fullmatch(r'"[0-9a-f]+"', etag)
        assert parsedate_to_datetime(modified) == NOW

        same = await reader.get(path, headers={"If-None-Match": etag})
        assert same.status_code == 304
        assert same.content == b""
        assert same.headers["etag"] == etag
        assert same.headers["cache-control"] == first.headers["cache-control"]
        assert same.headers["access-control-allow-origin"] == "*"
        listed = await reader.get(path, headers={"If-None-Match": f'"other", {etag}'})
        assert listed.status_code == 304
        other = await reader.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.content == first.content

        later = format_datetime(NOW + timedelta(hours=1), usegmt=True)
        for since in (modified, later):
            by_date = await reader.get(path, headers={"If-Modified-Since": since})
            assert by_date.status_code == 304, since
            assert by_date.content == b""
        earlier = format_datetime(NOW - timedelta(seconds=1), usegmt=True)
        assert (await reader.get(path, headers={"If-Modified-Since": earlier})).status_code == 200
        garbled = await reader.get(path, headers={"If-Modified-Since": "yesterday"})
        assert garbled.status_code == 200
        # Both sent: the ETag decides, whatever the date says.
        both = await reader.get(
            path, headers={"If-None-Match": '"something-else"', "If-Modified-Since": later}
        )
        assert both.status_code == 200


@pytest.mark.usefixtures("others")
async def test_a_campaign_that_closes_leaves_the_list_for_caches_revalidating_by_date(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as reader:
        before = await reader.get("/api/v1/campaigns")
        assert "lettre-ars" in before.text

        clock.advance(days=10)  # past midnight at the end of 10 March, Paris time
        fresh = await api(reader, "/api/v1/campaigns")
        assert [c["slug"] for c in fresh["campaigns"]] == [SLUG]
        # A cache that kept the list asks whether it changed since: it did.
        by_date = await reader.get(
            "/api/v1/campaigns", headers={"If-Modified-Since": before.headers["last-modified"]}
        )
        assert by_date.status_code == 200, (
            "the list lost a campaign that closed, yet Last-Modified stayed "
            f"{by_date.headers['last-modified']}"
        )


@pytest.mark.usefixtures("campaign")
async def test_any_site_may_read_the_api_which_sets_no_cookie(server: LiveServer) -> None:
    paths = [
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{SLUG}",
        f"/api/v1/campaigns/{SLUG}/signatories",
    ]
    async with server.client() as browser:
        # A visitor who has been on the site sends its cookies along: nothing changes.
        await browser.get(f"/c/{SLUG}", params={"lang": "en"})
        assert browser.cookies
        async with server.client() as stranger:
            for path in paths:
                answer = await stranger.get(path, headers={"Origin": "https://blog.example"})
                assert answer.status_code == 200, path
                assert answer.headers["access-control-allow-origin"] == "*"
                exposed = answer.headers["access-control-expose-headers"].lower()
                assert "etag" in exposed and "last-modified" in exposed
                assert "set-cookie" not in answer.headers, path
                assert answer.headers["x-content-type-options"] == "nosniff"
                expected = (
                    CACHE_CONTROL.replace("max-age=5", "max-age=30")
                    if "signatories" in path
                    else CACHE_CONTROL
                )
                assert answer.headers["cache-control"] == expected, path

                with_cookies = await browser.get(path, headers={"Origin": "https://blog.example"})
                assert "set-cookie" not in with_cookies.headers, path
                assert with_cookies.headers["etag"] == answer.headers["etag"], path
                assert with_cookies.content == answer.content

                preflight = await stranger.options(
                    path,
                    headers={
                        "Origin": "https://blog.example",
                        "Access-Control-Request-Method": "GET",
                        "Access-Control-Request-Headers": "if-none-match",
                    },
                )
                assert preflight.status_code in (200, 204), path
                assert preflight.headers["access-control-allow-origin"] == "*"
                methods = preflight.headers["access-control-allow-methods"]
                assert "GET" in [m.strip() for m in methods.split(",")]
                allowed = preflight.headers["access-control-allow-headers"].lower()
                assert "if-none-match" in allowed and "if-modified-since" in allowed
                assert "set-cookie" not in preflight.headers


@pytest.mark.usefixtures("campaign")
async def test_every_method_the_preflight_announces_is_answered(server: LiveServer) -> None:
    async with server.client() as reader:
        preflight = await reader.options(
            "/api/v1/campaigns",
            headers={"Origin": "https://blog.example", "Access-Control-Request-Method": "GET"},
        )
        announced = [
            m.strip() for m in preflight.headers["access-control-allow-methods"].split(",")
        ]
        assert "GET" in announced
        for method in announced:
            answer = await reader.request(method, f"/api/v1/campaigns/{SLUG}")
            assert answer.status_code in (200, 204), (method, answer.status_code)


@pytest.mark.usefixtures("campaign")
async def test_unknown_campaigns_are_not_found(server: LiveServer) -> None:
    paths = [
        "/api/v1/campaigns/inconnue",
        "/api/v1/campaigns/inconnue/signatories",
        "/api/v1/campaigns/inconnue/events",
        "/api/v1/campaigns/Mission-Sante",
        "/c/inconnue/widget",
        "/c/inconnue/badge.svg",
        "/c/inconnue/signatories",
    ]
    async with server.client() as reader:
        # Unknown addresses are looked up again at most once a second: ask all at once.
        answers = await asyncio.gather(*(reader.get(path) for path in paths))
    assert [a.status_code for a in answers] == [404] * len(paths)
    cookies = {p: a.headers.get("set-cookie") for p, a in zip(paths, answers, strict=True)}
    assert {p: c for p, c in cookies.items() if c and "/api/" in p} == {}


@pytest.mark.usefixtures("campaign")
async def test_the_event_stream_opens_with_the_count(server: LiveServer) -> None:
    async with (
        server.client() as reader,
        reader.stream("GET", f"/api/v1/campaigns/{SLUG}/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["access-control-allow-origin"] == "*"
        received = b""
        async with asyncio.timeout(5):
            async for chunk in stream.aiter_bytes():
                received += chunk
                if b"data:" in received and received.endswith(b"\n\n"):
                    break
        assert b"event: count" in received
        assert b'"count":0' in received


@pytest.mark.usefixtures("campaign")
async def test_the_schema_documents_every_public_route_and_no_organiser_one(
    server: LiveServer,
) -> None:
    async with server.client() as reader:
        answer = await reader.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert "set-cookie" not in answer.headers
    schema: dict[str, Any] = answer.json()
    validate(schema)

    paths: dict[str, dict[str, Any]] = schema["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item}
    public = {
        ("/", "get"),
        ("/c/{slug}", "get"),
        ("/c/{slug}", "post"),
        ("/c/{slug}/thanks", "get"),
        ("/confirm/{token}", "get"),
        ("/confirm/{token}", "post"),
        ("/c/{slug}/confirmed", "get"),
        ("/withdraw/{token}", "get"),
        ("/withdraw/{token}", "post"),
        ("/c/{slug}/withdrawn", "get"),
        ("/c/{slug}/signatories", "get"),
        ("/c/{slug}/widget", "get"),
        ("/c/{slug}/badge.svg", "get"),
        ("/api/v1/campaigns", "get"),
        ("/api/v1/campaigns/{slug}", "get"),
        ("/api/v1/campaigns/{slug}/signatories", "get"),
        ("/api/v1/campaigns/{slug}/events", "get"),
    }
    assert public - documented == set()
    private = sorted(p for p in paths if p.startswith(("/organiser", "/dashboard", "/static")))
    assert private == []

    signatories = paths["/api/v1/campaigns/{slug}/signatories"]["get"]
    assert {p["name"] for p in signatories["parameters"]} >= {"slug", "cursor"}
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/{slug}"):
        responses = paths[path]["get"]["responses"]
        assert {"200", "304"} <= set(responses), path
        assert "application/json" in responses["200"]["content"], path
    badge = paths["/c/{slug}/badge.svg"]["get"]["responses"]["200"]
    assert "image/svg+xml" in badge["content"]
