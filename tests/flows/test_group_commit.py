"""Group commit keeps every promise: requests that arrive together commit together, one bad
request fails alone, duplicates stay one signature, and nothing answered is lost to a kill."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from petition import tokens
from petition.db import SessionFactory
from petition.models import Campaign, Signature, SignatureStatus
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import displayed_count, hidden_fields, link, press_later, sign, signer
from tests.support.process import petition_serve
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink
from tests.support.statements import executed

SLUG = "mission-sante"


@contextlib.contextmanager
def commits_of(engine: AsyncEngine) -> Iterator[list[int]]:
    """How many transactions the engine committed while inside (a list of one number)."""
    seen = [0]

    def count(_connection: object) -> None:
        seen[0] += 1

    event.listen(engine.sync_engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "commit", count)


async def _statuses(sessions: SessionFactory) -> list[SignatureStatus]:
    async with sessions() as session:
        return list((await session.execute(select(Signature.status))).scalars())


async def test_one_used_link_in_a_batch_fails_alone_and_the_others_are_counted(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, campaign: Campaign
) -> None:
    emails = [f"soignant{n}@example.org" for n in range(12)]
    for email in emails:
        async with server.client() as browser:
            assert (await sign(browser, SLUG, signer(email))).status_code == 303
    mails = await smtp.wait_for(len(emails))
    confirms = [link(m, "confirm") for m in sorted(mails, key=lambda m: str(m["To"]))]
    async with server.client() as browser:
        presses = [await press_later(browser, path) for path in confirms]
        assert (await presses[0]()).status_code == 303  # this link is now used
        with commits_of(server.services.engine) as commits:
            answers = await asyncio.gather(*(fire() for fire in presses))

    assert [a.status_code for a in answers] == [410] + [303] * (len(emails) - 1)
    assert await _statuses(sessions) == [SignatureStatus.CONFIRMED] * len(emails)
    # The eleven confirmations shared their commits: fewer transactions than requests.
    assert commits[0] < len(emails) - 1
    async with server.client() as reader:
        count = (await reader.get(f"/api/v1/campaigns/{SLUG}")).json()["campaign"]["count"]
    assert count == len(emails)


# Statements confirming many: arrays on PostgreSQL; on SQLite, each UPDATE of signatures (one
# for the batch, its values a list, and one per link that goes the long way).
_BULK = {"postgresql": "unnest(", "sqlite": "UPDATE signatures"}


async def test_links_pressed_together_are_each_answered_as_alone(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """One writer lane, so that they share a batch: six signers' links and both links of one
    who signed twice while pending, in fewer statements than presses; then one
    link pressed twice at once."""
    emails = [f"soignant{n}@example.org" for n in range(6)] + ["deux@example.org"]
    async with serve(dataclasses.replace(settings, write_lanes=1), clock) as server:
        async with server.client() as browser:
            for email in [*emails, "deux@example.org", "meme@example.org"]:
                assert (await sign(browser, SLUG, signer(email))).status_code == 303
        mails = await smtp.wait_for(len(emails) + 2)
        paths = [link(m, "confirm") for m in mails if m["To"] != "meme@example.org"]
        [same] = [link(m, "confirm") for m in mails if m["To"] == "meme@example.org"]
        async with server.client() as browser:
            presses = [await press_later(browser, path) for path in paths]
            engine = server.services.engine
            with executed(engine, _BULK[engine.dialect.name], "UPDATE signatures") as bulk:
                answers = await asyncio.gather(*(fire() for fire in presses))
            assert [a.status_code for a in answers] == [303] * len(paths)
            assert await displayed_count(browser, SLUG) == len(emails)  # "deux" counted once
            twice = [await press_later(browser, same) for _ in range(2)]
            late = await asyncio.gather(*(fire() for fire in twice))
            assert sorted(a.status_code for a in late) == [303, 410]
            assert await displayed_count(browser, SLUG) == len(emails) + 1
    assert await _statuses(sessions) == [SignatureStatus.CONFIRMED] * (len(emails) + 1)
    assert 0 < len(bulk) < len(presses) - 1


async def test_the_same_address_sent_many_times_at_once_is_one_signature(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, campaign: Campaign
) -> None:
    browsers = [server.client() for _ in range(8)]
    try:
        pages = [await browser.get(f"/c/{SLUG}") for browser in browsers]
        answers = await asyncio.gather(
            *(
                browser.post(
                    f"/c/{SLUG}", data={**hidden_fields(page), **signer("double@example.org")}
                )
                for browser, page in zip(browsers, pages, strict=True)
            )
        )
    finally:
        for browser in browsers:
            await browser.aclose()
    assert [a.status_code for a in answers] == [303] * 8
    assert await _statuses(sessions) == [SignatureStatus.PENDING]
    mails = await smtp.wait_for(1)
    assert {m["To"] for m in mails} == {"double@example.org"}


async def test_no_page_view_or_api_read_opens_a_write_transaction(
    server: LiveServer, smtp: SmtpSink, campaign: Campaign
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer("lecture@example.org"))
    [mail] = await smtp.wait_for(1)
    confirm, withdraw = link(mail, "confirm"), link(mail, "withdraw")
    server.services.sender.stop()  # it writes on a schedule of its own, not for page views
    await asyncio.sleep(0.5)
    reads = [
        "/",
        f"/c/{SLUG}",
        f"/c/{SLUG}/thanks",
        f"/c/{SLUG}/confirmed",
        f"/c/{SLUG}/withdrawn",
        f"/c/{SLUG}/challenge",
        f"/c/{SLUG}/signatories",
        f"/c/{SLUG}/widget",
        f"/c/{SLUG}/badge.svg",
        f"/c/{SLUG}/privacy",
        f"/c/{SLUG}/privacy/1",
        confirm,
        withdraw,
        "/manage",
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{SLUG}",
        f"/api/v1/campaigns/{SLUG}/signatories",
        "/api/v1/openapi.json",
        "/healthz",
    ]
    begun = [0]

    def count(_connection: object) -> None:
        begun[0] += 1

    engine = server.services.engine.sync_engine
    event.listen(engine, "begin", count)
    try:
        async with server.client() as reader:
            for path in reads:
                for _ in range(3):
                    answer = await reader.get(path)
                    assert answer.status_code < 400, (path, answer.status_code)
        assert begun[0] == 0
        async with server.client() as browser:  # and the listener does see a write
            assert (await sign(browser, SLUG, signer("ecriture@example.org"))).status_code == 303
        assert begun[0] > 0
    finally:
        event.remove(engine, "begin", count)


async def test_a_server_killed_during_a_burst_loses_no_signature_it_answered(
    settings: Settings, sessions: SessionFactory, campaign: Campaign
) -> None:
    env = {
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_VAR_DIR": str(settings.var_dir),
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_BASE_URL": "http://127.0.0.1",
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": "9",  # nobody: the mail waits in the outbox
        "PETITION_RUN_MAIL_SENDER": "false",
        "PETITION_FORM_MIN_SECONDS": "0",
        "PETITION_NOJS_BURST_LIMIT": "100000",
        "PETITION_NOJS_SUSTAINED_LIMIT": "100000",
    }
    answered: list[str] = []
    enough = asyncio.Event()
    async with petition_serve(env) as served:

        async def keep_signing(client_number: int) -> None:
            async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as browser:
                page = await browser.get(f"/c/{SLUG}")
                for n in range(10_000):
                    email = f"rafale-{client_number}-{n}@example.org"
                    form = {**hidden_fields(page), **signer(email)}
                    try:
                        answer = await browser.post(f"/c/{SLUG}", data=form)
                    except httpx.TransportError:
                        return  # the server is gone: what was answered is all there is
                    if answer.status_code == 303:
                        answered.append(email)
                        if len(answered) == 150:
                            enough.set()

        burst = [asyncio.create_task(keep_signing(n)) for n in range(24)]
        await asyncio.wait_for(enough.wait(), timeout=60)
        served.kill()  # mid-burst: batches in flight
        await asyncio.wait_for(served.process.wait(), timeout=10)
        await asyncio.gather(*burst, return_exceptions=True)

    secret = settings.load_secret_key()
    async with sessions() as session:
        stored = set((await session.execute(select(Signature.email_hash))).scalars())
        total = await session.scalar(select(func.count()).select_from(Signature))
    missing = [e for e in answered if tokens.email_hash(secret, e) not in stored]
    assert missing == []
    assert total is not None and total >= len(answered)


async def test_while_another_process_holds_the_write_lock_the_site_still_answers(
    server: LiveServer, smtp: SmtpSink, settings: Settings, campaign: Campaign
) -> None:
    """The writer's statements run on the event loop (SQLite); its waits must not. A command
    beside the server holds SQLite's write lock: the signer waits for it, page views do not."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        pytest.skip("SQLite's write lock (PostgreSQL locks rows, not the database)")
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    async with server.client() as browser, server.client() as reader:
        page = await browser.get(f"/c/{SLUG}")
        holder.execute("BEGIN IMMEDIATE")
        try:
            signing = asyncio.create_task(
                browser.post(f"/c/{SLUG}", data={**hidden_fields(page), **signer()})
            )
            await asyncio.sleep(0.5)
            assert not signing.done()  # waiting for the lock
            for path in (f"/c/{SLUG}", f"/api/v1/campaigns/{SLUG}", "/healthz"):
                answer = await asyncio.wait_for(reader.get(path), timeout=2)
                assert answer.status_code == 200
            assert not signing.done()
        finally:
            holder.rollback()
            holder.close()
        assert (await signing).status_code == 303
    assert len(await smtp.wait_for(1)) == 1
