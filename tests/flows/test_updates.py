"""News to the signers who asked for it: only them, once each, with one-click unsubscribe
(RFC 8058) that works without a cookie; their address kept sealed, gone when they stop, when
they withdraw and when the campaign is anonymised; the official petition's reminder, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from petition import jobs, retention
from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, CampaignUpdate, Role, Subscription
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.privacy import until_no_row_mentions
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink
from tests.support.spam import MOST, SPAMASSASSIN
from tests.support.spam import score as spam_score

SLUG = "mission-sante"
EDITOR = "editrice@collectif-sante.org"
INFORMED = "claire.informee@hopital-exemple.fr"
SILENT = "paul.silencieux@hopital-exemple.fr"
NEVER_CONFIRMED = "jamais.confirme@hopital-exemple.fr"
WITHDRAWN = "parti.ensuite@hopital-exemple.fr"


async def _sign_and_confirm(
    browser: httpx.AsyncClient, smtp: SmtpSink, email: str, *, informed: bool, confirm: bool = True
) -> EmailMessage:
    before = len(smtp.messages)
    fields = signer(email, keep_informed="yes") if informed else signer(email)
    assert (await sign(browser, SLUG, fields)).status_code == 303
    mails = await smtp.wait_for(before + 1)
    [mail] = [m for m in mails[before:] if str(m["To"]) == email]
    if confirm:
        assert (await press(browser, link(mail, "confirm"))).status_code == 303
    return mail


async def _organiser_post(browser: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    token = csrf_of(await browser.get("/dashboard"))
    return await browser.post(path, data={"_csrf_token": token, **fields})


async def _run(server: LiveServer, clock: FakeClock, name: str, job: jobs.Job) -> None:
    """A scheduled job's next period, as the worker runs it."""
    clock.advance(seconds=120)
    assert await jobs.run_if_due(server.services, name, timedelta(minutes=1), job)


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _journal(settings: Settings) -> str:
    return Path(settings.resolved_journal_file).read_text(encoding="utf-8")


def _unsubscribe_path(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<http://petition.test/unsubscribe/") and header.endswith(">")
    return urlsplit(header[1:-1]).path


async def _write_news(browser: httpx.AsyncClient) -> str:
    base = f"/dashboard/c/{SLUG}/updates"
    written = await _organiser_post(
        browser,
        base,
        subject_fr="La mission est votée",
        body_fr="Le Sénat a **voté** la mission de contrôle.",
        subject_en="The mission is voted",
        body_en="The Senate **voted** the control mission.",
    )
    assert written.status_code == 303, written.text
    return written.headers["location"]


@pytest.mark.usefixtures("campaign")
async def test_news_reach_only_those_who_asked_once_each(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    async with server.client() as browser:
        page = await browser.get(f"/c/{SLUG}")
        assert (
            'name="keep_informed"' in page.text
            and "checked" not in page.text.split('id="keep_informed"')[1].split(">")[0]
        )  # offered, and unticked
        confirm = await _sign_and_confirm(browser, smtp, INFORMED, informed=True)
        assert "Vous avez aussi demandé des nouvelles" in _text(confirm)
        await _sign_and_confirm(browser, smtp, SILENT, informed=False)
        await _sign_and_confirm(browser, smtp, NEVER_CONFIRMED, informed=True, confirm=False)
        gone = await _sign_and_confirm(browser, smtp, WITHDRAWN, informed=True)
        assert (await press(browser, link(gone, "withdraw"))).status_code == 303
        # Signing again with the box ticked, once confirmed, subscribes nobody.
        assert (await sign(browser, SLUG, signer(SILENT, keep_informed="yes"))).status_code == 303

    async with server.client() as organiser:
        assert (await login(organiser, EDITOR, PASSWORD)).status_code == 303
        listing = await organiser.get(f"/dashboard/c/{SLUG}/updates")
        assert "1 signataire confirmé a demandé" in listing.text
        news = await _write_news(organiser)
        preview = await organiser.get(news)
        assert "<strong>voté</strong>" in preview.text and "The mission is voted" in preview.text

        before = len(smtp.messages)
        assert (await _organiser_post(organiser, news, action="test")).status_code == 303
        [test] = (await smtp.wait_for(before + 1))[before:]
        assert str(test["To"]) == EDITOR and str(test["Subject"]) == "La mission est votée"

        refused = await _organiser_post(organiser, news, action="send")  # the box unticked
        assert refused.status_code == 422
        for _twice in range(2):  # a double click sends once
            sent = await _organiser_post(organiser, news, action="send", sure="yes")
            assert sent.status_code == 303
        before = len(smtp.messages)
        await _run(server, clock, "updates", jobs.send_updates)
        await _run(server, clock, "updates", jobs.send_updates)
        [mail] = (await smtp.wait_for(before + 1))[before:]
        await asyncio.sleep(0.5)  # nothing else arrives
        assert len(smtp.messages) == before + 1

        status = await organiser.get(news)
        assert '<td data-label="Envoyés">1</td>' in status.text
    assert str(mail["To"]) == INFORMED
    assert str(mail["Subject"]) == "La mission est votée"
    assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    path = _unsubscribe_path(mail)
    assert f"http://petition.test{path}" in _text(mail)  # a visible link too
    assert "Le Sénat a **voté** la mission de contrôle." in _text(mail)
    if SPAMASSASSIN is not None:  # as a receiving server judges it
        score, details = await spam_score(smtp.received[before])
        assert score < MOST, details
    async with sessions() as session:
        assert await session.scalar(select(CampaignUpdate.status)) == "sent"
        audited = (await session.execute(select(AuditEntry.action, AuditEntry.rows))).all()
    assert sorted(audited) == [("update draft", 0), ("update send", 1), ("update test", 0)]


@pytest.mark.usefixtures("campaign")
async def test_one_click_unsubscribe_without_cookies_stops_news_and_erases_the_address(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    async with server.client() as browser:
        await _sign_and_confirm(browser, smtp, INFORMED, informed=True)
    # Kept, but sealed: no table and no byte of the database holds it in clear.
    await until_no_row_mentions(sessions, INFORMED)
    database = settings.resolved_database_url
    if database.startswith("sqlite"):
        stored = Path(database.removeprefix("sqlite:///"))
        for file in (stored, stored.with_name(stored.name + "-wal")):
            assert not file.exists() or INFORMED.encode() not in file.read_bytes()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Subscription)) == 1

    async with server.client() as organiser:
        await login(organiser, EDITOR, PASSWORD)
        news = await _write_news(organiser)
        await _organiser_post(organiser, news, action="send", sure="yes")
        before = len(smtp.messages)
        await _run(server, clock, "updates", jobs.send_updates)
        [mail] = (await smtp.wait_for(before + 1))[before:]

    path = _unsubscribe_path(mail)
    # A mail client's one-click POST: no cookie, no CSRF token, no Origin.
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        shown = await client.get(path)  # a link scanner's GET changes nothing
        assert shown.status_code == 200 and "set-cookie" not in shown.headers
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Subscription)) == 1
        stopped = await client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert stopped.status_code == 200, stopped.text
        assert "set-cookie" not in stopped.headers
        assert "Vous ne recevrez plus de nouvelles" in stopped.text
        again = await client.post(path, content=b"List-Unsubscribe=One-Click")
        assert again.status_code == 200
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Subscription)) == 0
    assert '"kind":"unsubscription"' in _journal(settings).replace(" ", "")

    async with server.client() as organiser:
        await login(organiser, EDITOR, PASSWORD)
        news = await _write_news(organiser)
        await _organiser_post(organiser, news, action="send", sure="yes")
        before = len(smtp.messages)
        await _run(server, clock, "updates", jobs.send_updates)
        await asyncio.sleep(0.5)
    assert len(smtp.messages) == before  # nobody is left to write to


@pytest.mark.usefixtures("campaign")
async def test_anonymising_the_campaign_erases_the_kept_addresses(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, campaign: Campaign
) -> None:
    async with server.client() as browser:
        await _sign_and_confirm(browser, smtp, INFORMED, informed=True)
    async with sessions() as session, session.begin():
        stored = await session.get(Campaign, campaign.id)
        assert stored is not None
        await retention.anonymise(session, stored, stored.created_at + timedelta(days=200))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Subscription)) == 0


@pytest.mark.usefixtures("campaign")
async def test_the_official_deadline_reminder_goes_once_at_its_day(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    clock: FakeClock,
    campaign: Campaign,
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(
                official_url="https://petitions.senat.fr/initiatives/i-1234",
                official_platform="e-pétitions du Sénat",
                official_deadline=clock() + timedelta(days=10),
                official_reminder_days=3,
            )
        )
    async with server.client() as browser:
        await _sign_and_confirm(browser, smtp, INFORMED, informed=True)
        await _sign_and_confirm(browser, smtp, SILENT, informed=False)
    before = len(smtp.messages)
    for _day in range(6):  # six days on: still more than three days before the deadline
        clock.advance(days=1)
        await _run(server, clock, "official_reminders", jobs.remind_official)
        await _run(server, clock, "updates", jobs.send_updates)
    assert clock() < campaign.created_at + timedelta(days=7)
    clock.advance(days=1)  # three days before the deadline, to the hour
    await asyncio.sleep(0.3)
    assert len(smtp.messages) == before
    for _look in range(3):  # looked at again and again: one reminder
        await _run(server, clock, "official_reminders", jobs.remind_official)
        await _run(server, clock, "updates", jobs.send_updates)
    [reminder] = (await smtp.wait_for(before + 1))[before:]
    await asyncio.sleep(0.5)
    assert len(smtp.messages) == before + 1
    assert str(reminder["To"]) == INFORMED
    assert "https://petitions.senat.fr/initiatives/i-1234" in _text(reminder)
    assert "e-pétitions du Sénat" in _text(reminder)
    assert reminder["List-Unsubscribe"] is not None
