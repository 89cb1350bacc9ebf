"""The operator's Prometheus reads /metrics with its token: the site's counts as the database has
them, each request timed by route, every worker of `petition serve` added up, and never a
signer's name, address or link, nor a campaign the public cannot see yet."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import select

from petition import campaigns
from petition.db import SessionFactory
from petition.metrics import FAILURE_KINDS
from petition.models import Campaign, CampaignKind, OutboxMail, OutboxStatus, SignatureStatus
from petition.settings import Settings, SettingsError
from tests.support.clock import FakeClock
from tests.support.journey import link, press, sign, signer
from tests.support.process import petition_serve, site_env
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink
from tests.support.sse import Watcher

SLUG = "mission-sante"
UPCOMING = "avant-premiere-confidentielle"  # opens next month: its address is not public yet
TOKEN = "scrape-" + "0123456789abcdef" * 3
BEARER = {"Authorization": f"Bearer {TOKEN}"}
LABELS = {"status", "kind", "route", "method", "status_class", "le"}

CONFIRMED_A = signer("ysolde.quennec@example.org", first_name="Ysolde", last_name="Quennec")
CONFIRMED_B = signer("baptistin.vernhes@example.net", first_name="Baptistin", last_name="Vernhes")
REFUSED = signer("gwenaelle.tromeur@example.org", first_name="Gwenaëlle", last_name="Tromeur")
DEFERRED = signer("anatole.pelissier@example.com", first_name="Anatole", last_name="Pélissier")
SIGNERS = (CONFIRMED_A, CONFIRMED_B, REFUSED, DEFERRED)


@pytest.fixture
async def measured(
    settings: Settings, clock: FakeClock, campaign: Campaign
) -> AsyncIterator[LiveServer]:
    async with serve(dataclasses.replace(settings, metrics_token=TOKEN), clock) as live:
        yield live


async def scrape(client: httpx.AsyncClient) -> list[Sample]:
    answer = await client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["cache-control"] == "no-store"
    assert "set-cookie" not in answer.headers
    return [s for family in text_string_to_metric_families(answer.text) for s in family.samples]


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The one sample of that name whose labels include these; 0 when there is none."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


async def test_the_figures_count_what_happened_and_name_no_one(
    measured: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock
) -> None:
    await _upcoming_campaign(sessions, clock)
    smtp.refuse.add(REFUSED["email"])  # 550: refused for good
    smtp.hold.add(DEFERRED["email"])  # 451, at once: tried again later
    smtp.release.set()
    secrets: list[str] = [UPCOMING, SLUG, TOKEN]
    async with measured.client() as browser:
        for fields in SIGNERS:
            assert (await sign(browser, SLUG, fields)).status_code == 303
        mails = await smtp.wait_for(2)
        for mail in mails:
            secrets += [link(mail, "confirm"), link(mail, "withdraw")]
            assert (await press(browser, link(mail, "confirm"))).status_code == 303
        # A signer's own page, a campaign not open yet, a HEAD, and a path the site lacks.
        assert (await browser.get(link(mails[0], "withdraw"))).status_code == 200
        await browser.get(f"/c/{UPCOMING}")
        assert (await browser.head(f"/c/{SLUG}")).status_code == 200
        assert (await browser.get(f"/nothing/{UPCOMING}/here")).status_code == 404
        await _until_settled(sessions)
        clock.advance(seconds=30)  # the deferred mail has waited 30 s since it was queued

        watcher = await Watcher.open(f"{measured.base_url}/api/v1/campaigns/{SLUG}/events")
        try:
            await watcher.next_event(within=10)
            async with httpx.AsyncClient(base_url=measured.base_url) as prometheus:
                samples = await scrape(prometheus)
        finally:
            await watcher.close()

    by_status = {s: value(samples, "petition_signatures", status=s) for s in SignatureStatus}
    assert by_status == {
        "pending": 2, "confirmed": 2, "withdrawn": 0, "invalidated": 0, "quarantined": 0,
    }  # fmt: skip
    assert value(samples, "petition_signatures_submitted_total") == len(SIGNERS)
    assert value(samples, "petition_signatures_confirmed_total") == 2
    assert {s: value(samples, "petition_outbox_mails", status=s) for s in OutboxStatus} == {
        "pending": 1, "sent": 2, "failed": 1,
    }  # fmt: skip
    assert value(samples, "petition_outbox_oldest_queued_seconds") == 30
    failures = {k: value(samples, "petition_mail_failures", kind=k) for k in FAILURE_KINDS}
    assert failures == {"retrying": 1, "refused": 1, "interrupted": 0}
    assert value(samples, "petition_live_watchers") == 1

    count = "petition_http_request_duration_seconds_count"
    pressed = total(samples, count, route="/confirm/{token}", method="POST", status_class="3xx")
    assert pressed == 2
    assert total(samples, count, route="/c/{slug}", method="GET", status_class="2xx") >= 4
    assert total(samples, count, route="/c/{slug}", method="HEAD") == 1
    assert total(samples, count, route="/withdraw/{token}", method="GET") == 1
    assert total(samples, count, route="other", status_class="4xx") == 1

    names = {n for fields in SIGNERS for n in (fields["first_name"], fields["last_name"])}
    addresses = {fields["email"] for fields in SIGNERS}
    words = {*names, *addresses, *(a.split("@")[0] for a in addresses), *secrets}
    tokens = {path.rsplit("/", 1)[-1] for path in secrets if path.startswith("/")}
    for sample in samples:
        assert set(sample.labels) <= LABELS, sample
        for label in sample.labels.values():
            assert not any(word in label for word in {*words, *tokens}), sample
        route = sample.labels.get("route")
        assert route is None or route == "other" or route.startswith("/"), sample


async def test_the_figures_sum_kept_ready_answers_and_left_streams(measured: LiveServer) -> None:
    """The campaign page answered from memory is counted like any other; a stream closed by
    its watcher no longer counts."""
    async with httpx.AsyncClient(base_url=measured.base_url) as client:
        before = await scrape(client)
        for _ in range(5):
            assert (await client.get(f"/c/{SLUG}")).status_code == 200
        watcher = await Watcher.open(f"{measured.base_url}/api/v1/campaigns/{SLUG}/events")
        await watcher.next_event(within=10)
        await watcher.close()
        after = await _scrape_until(client, lambda s: value(s, "petition_live_watchers") == 0)

    count = "petition_http_request_duration_seconds_count"
    page = {"route": "/c/{slug}", "method": "GET", "status_class": "2xx"}
    assert total(after, count, **page) - total(before, count, **page) == 5
    assert value(after, "petition_live_watchers") == 0
    events = total(after, count, route="/api/v1/campaigns/{slug}/events", method="GET")
    assert events == 1


async def test_metrics_are_absent_without_a_token(server: LiveServer) -> None:
    async with server.client() as client:
        for headers in ({}, BEARER):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status_code == 404
            assert "www-authenticate" not in answer.headers


async def test_a_missing_or_wrong_token_is_refused(measured: LiveServer) -> None:
    async with measured.client() as client:
        for headers in (
            {},
            {"Authorization": f"Bearer {TOKEN[:-1]}x"},
            {"Authorization": f"Bearer {TOKEN}{TOKEN}"},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.headers["cache-control"] == "no-store"
            assert "petition_" not in answer.text
        schema = (await client.get("/api/v1/openapi.json")).json()
    assert "/metrics" not in schema["paths"] and "/readyz" not in schema["paths"]


@pytest.mark.parametrize("token", ["", "too-short", "changeme"])
def test_a_guessable_token_is_refused_at_start(token: str) -> None:
    environ = {"PETITION_METRICS_TOKEN": token}
    if not token:
        assert Settings.from_env(environ).metrics_token == ""
        return
    with pytest.raises(SettingsError, match="PETITION_METRICS_TOKEN"):
        Settings.from_env(environ)


REQUESTS_AT_MOST = 400  # new connections until both workers answered some (a few suffice)


async def test_the_figures_of_two_workers_add_up(
    settings: Settings, smtp: SmtpSink, campaign: Campaign
) -> None:
    """`petition serve` with two workers: whichever answers the scrape, it counts the requests
    both answered, each once."""
    env = _site_env(settings, smtp)
    directory = settings.var_dir / "metrics"
    directory.mkdir(parents=True)
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    async with petition_serve({**env, "PETITION_WORKERS": "2"}) as served:
        assert not (directory / "counter_1.db").exists()
        assert directory.stat().st_mode & 0o777 == 0o700
        made = 0
        while len(_workers_that_answered(directory)) < 2 and made < REQUESTS_AT_MOST:
            async with httpx.AsyncClient(base_url=served.base_url) as browser:  # a new connection
                assert (await browser.get("/")).status_code == 200
            made += 1
        assert len(_workers_that_answered(directory)) == 2, f"one worker answered {made}"
        scraped = []
        for _ in range(6):  # new connections again: both workers answer scrapes
            async with httpx.AsyncClient(base_url=served.base_url) as prometheus:
                samples = await scrape(prometheus)
            scraped.append(
                total(samples, "petition_http_request_duration_seconds_count", route="/")
            )
    assert scraped == [made] * 6


def _workers_that_answered(directory: Path) -> set[str]:
    """The processes that timed a request: each writes its histograms to a file of its own."""
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob("histogram_*.db")}


def _site_env(settings: Settings, smtp: SmtpSink) -> dict[str, str]:
    return site_env(settings, smtp.port, metrics_token=TOKEN)


async def _upcoming_campaign(sessions: SessionFactory, clock: FakeClock) -> None:
    spec = campaigns.CampaignSpec(
        slug=UPCOMING,
        title="Une campagne pas encore ouverte",
        kind=CampaignKind.PETITION,
        goal=None,
        closes=None,
        opens=(clock() + timedelta(days=30)).date(),
        body_markdown="Bientôt.",
    )
    async with sessions() as session, session.begin():
        await campaigns.create(session, spec, now=clock(), tz="Europe/Paris")


async def _until_settled(sessions: SessionFactory, within: float = 20.0) -> None:
    """Every mail sent, refused, or postponed after a first try."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        async with sessions() as session:
            rows = (await session.execute(select(OutboxMail))).scalars().all()
        if all(row.status is not OutboxStatus.PENDING or row.attempts > 0 for row in rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not settle")


async def _scrape_until(
    client: httpx.AsyncClient, done: Callable[[list[Sample]], bool], within: float = 10.0
) -> list[Sample]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    samples = await scrape(client)
    while not done(samples) and loop.time() < deadline:
        await asyncio.sleep(0.05)
        samples = await scrape(client)
    return samples
