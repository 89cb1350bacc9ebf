"""Claire, an organiser, receives her link, chooses a password, signs in and out, resets it."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from petition import organisers
from petition.db import SessionFactory
from petition.models import Campaign, Organiser, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

EMAIL = "claire@collectif-sante.org"
PASSWORD = "une phrase de passe assez longue"


async def _invite(
    sessions: SessionFactory, settings: Settings, clock: FakeClock, campaign: Campaign | None
) -> str:
    """What `petition organiser add` does; returns the path of the printed link."""
    async with sessions() as session, session.begin():
        organiser = await organisers.add(
            session, secret=settings.load_secret_key(), email=EMAIL, name="Claire", now=clock()
        )
        if campaign is not None:
            await organisers.grant(session, organiser, campaign, Role.EDITOR)
        token = await organisers.password_link(
            session, organiser, now=clock(), valid_for=timedelta(days=3)
        )
    return f"/organiser/password/{token}"


async def _choose(
    browser: httpx.AsyncClient, path: str, password: str, again: str | None = None
) -> httpx.Response:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    form = {"_csrf_token": csrf_of(page), "password": password, "password_again": again or password}
    return await browser.post(path, data=form)


def _without_csrf(html: str) -> str:
    return re.sub(r'name="_csrf_token" value="[^"]+"', "", html)


@pytest.fixture
async def claire(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    server: LiveServer,
) -> None:
    path = await _invite(sessions, settings, clock, campaign)
    async with server.client() as browser:
        assert (await _choose(browser, path, PASSWORD)).status_code == 303


async def test_invited_organiser_sets_a_password_signs_in_sees_her_campaign_and_signs_out(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
) -> None:
    path = await _invite(sessions, settings, clock, campaign)
    async with server.client() as browser:
        anonymous = await browser.get("/dashboard")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/organiser/login"

        chosen = await _choose(browser, path, PASSWORD)
        assert chosen.status_code == 303
        assert (await browser.get(path)).status_code == 410  # single use

        signed_in = await login(browser, EMAIL, PASSWORD)
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        board = await browser.get("/dashboard")
        assert board.status_code == 200
        assert campaign.title in board.text and "Éditeur ou éditrice" in board.text
        assert board.headers["cache-control"] == "no-store"

        await browser.post("/organiser/logout", data={"_csrf_token": csrf_of(board)})
        assert (await browser.get("/dashboard")).status_code == 303


@pytest.mark.usefixtures("claire")
async def test_failed_login_answers_alike_for_unknown_and_known_accounts(
    server: LiveServer,
) -> None:
    async with server.client() as browser:
        wrong_password = await login(browser, EMAIL, "not her password at all")
        unknown = await login(browser, "nobody@collectif-sante.org", "not her password at all")
    assert wrong_password.status_code == unknown.status_code == 400
    assert _without_csrf(wrong_password.text) == _without_csrf(unknown.text)
    assert "Adresse ou mot de passe incorrect" in unknown.text


@pytest.mark.usefixtures("claire")
async def test_each_login_gets_a_new_session_id(server: LiveServer) -> None:
    async with server.client() as first, server.client() as second:
        one = (await login(first, EMAIL, PASSWORD)).cookies.get("organiser")
        two = (await login(second, EMAIL, PASSWORD)).cookies.get("organiser")
    assert one and two and one != two


@pytest.mark.usefixtures("claire")
async def test_guessing_is_throttled_per_account_and_other_accounts_are_unaffected(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        for _ in range(5):
            assert (await login(browser, EMAIL, "a wrong guess, again")).status_code == 400
        throttled = await login(browser, EMAIL, PASSWORD)  # even the right password now waits
        assert throttled.status_code == 429
        assert "Trop de tentatives" in throttled.text
        other = await login(browser, "someone.else@example.org", "whatever it is")
        assert other.status_code == 400
        clock.advance(minutes=16)
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 303


@pytest.mark.usefixtures("claire")
async def test_thirty_guesses_at_once_get_five_password_checks(
    server: LiveServer, clock: FakeClock
) -> None:
    """Counted before checking, in one step: attempts sent together cannot all slip through."""
    async with server.client() as browser:
        token = csrf_of(await browser.get("/organiser/login"))
        guess = {"_csrf_token": token, "email": EMAIL, "password": "a wrong guess, again"}
        answers = await asyncio.gather(
            *(browser.post("/organiser/login", data=guess) for _ in range(30))
        )
        assert Counter(a.status_code for a in answers) == {400: 5, 429: 25}
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 429
        clock.advance(minutes=15)
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 303


@pytest.mark.usefixtures("claire")
async def test_the_right_password_forgives_the_earlier_mistakes(server: LiveServer) -> None:
    async with server.client() as browser:
        for _ in range(4):
            assert (await login(browser, EMAIL, "a wrong guess, again")).status_code == 400
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 303
        for _ in range(5):
            assert (await login(browser, EMAIL, "a wrong guess, again")).status_code == 400
        assert (await login(browser, EMAIL, "a wrong guess, again")).status_code == 429


@pytest.mark.usefixtures("claire")
async def test_with_redis_the_attempts_are_counted_across_server_processes(
    settings: Settings, clock: FakeClock, redis_url: str
) -> None:
    """Two workers of one site: the sixth guess is refused, whichever received it."""
    shared = dataclasses.replace(settings, redis_url=redis_url)
    async with (
        serve(shared, clock) as one,
        serve(shared, clock) as two,
        one.client() as a,
        two.client() as b,
    ):
        statuses = [
            (await login(browser, EMAIL, "a wrong guess, again")).status_code
            for browser in (a, b, a, b, a, b)
        ]
    assert statuses == [400, 400, 400, 400, 400, 429]


@pytest.mark.usefixtures("campaign")
async def test_pages_answer_while_logins_wait_for_their_password_checks(
    server: LiveServer,
) -> None:
    """Twenty logins hash one after the other; meanwhile a page needs no hashing and must not
    wait behind them (nor behind a database connection one of them holds)."""
    finished: list[str] = []
    async with server.client() as crowd, server.client() as visitor:
        token = csrf_of(await crowd.get("/organiser/login"))

        async def guess(n: int) -> None:
            form = {"_csrf_token": token, "email": f"guess{n}@example.org", "password": "wrong"}
            assert (await crowd.post("/organiser/login", data=form)).status_code == 400
            finished.append("login")

        async def look() -> None:
            await asyncio.sleep(0.05)  # the logins are in the queue first
            assert (await visitor.get("/healthz")).status_code == 200
            assert (await visitor.get("/c/mission-sante")).status_code == 200
            finished.append("pages")

        await asyncio.gather(*(guess(n) for n in range(20)), look())
    assert finished.index("pages") < 10, finished


async def test_guessing_from_one_client_across_accounts_is_throttled(server: LiveServer) -> None:
    async with server.client() as browser:
        for n in range(20):
            assert (
                await login(browser, f"user{n}@example.org", "guess guess guess")
            ).status_code == 400
        assert (await login(browser, "user99@example.org", "guess guess guess")).status_code == 429


@pytest.mark.usefixtures("claire")
async def test_sessions_end_when_idle_and_when_too_old(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, EMAIL, PASSWORD)
        clock.advance(minutes=29)
        assert (await browser.get("/dashboard")).status_code == 200
        clock.advance(minutes=31)
        assert (await browser.get("/dashboard")).status_code == 303  # idle too long

        await login(browser, EMAIL, PASSWORD)
        for _ in range(17):  # active every 28 minutes, for almost 8 hours: still signed in
            clock.advance(minutes=28)
            assert (await browser.get("/dashboard")).status_code == 200
        clock.advance(minutes=28)  # past 8 hours since login, however active
        assert (await browser.get("/dashboard")).status_code == 303


@pytest.mark.usefixtures("claire")
async def test_password_reset_by_mail(server: LiveServer, smtp: SmtpSink, clock: FakeClock) -> None:
    async with server.client() as browser, server.client() as old_browser:
        await login(old_browser, EMAIL, PASSWORD)
        page = await browser.get("/organiser/reset")
        known = await browser.post(
            "/organiser/reset", data={"_csrf_token": csrf_of(page), "email": EMAIL}
        )
        unknown = await browser.post(
            "/organiser/reset", data={"_csrf_token": csrf_of(page), "email": "nobody@example.org"}
        )
        assert known.status_code == unknown.status_code == 200
        assert _without_csrf(known.text) == _without_csrf(unknown.text)

        [mail] = await smtp.wait_for(1)
        assert mail["To"] == EMAIL
        body = mail.get_body(("plain",))
        assert body is not None
        link = re.search(r"http://petition\.test(/organiser/password/\S+)", body.get_content())
        assert link, "the link is built from PETITION_BASE_URL"
        assert (await _choose(browser, link.group(1), "a brand new passphrase")).status_code == 303

        assert (await old_browser.get("/dashboard")).status_code == 303  # old sessions closed
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 400
        assert (await login(browser, EMAIL, "a brand new passphrase")).status_code == 303


@pytest.mark.usefixtures("claire")
async def test_reset_link_expires_within_half_an_hour(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock
) -> None:
    async with server.client() as browser:
        page = await browser.get("/organiser/reset")
        await browser.post("/organiser/reset", data={"_csrf_token": csrf_of(page), "email": EMAIL})
        [mail] = await smtp.wait_for(1)
        body = mail.get_body(("plain",))
        assert body is not None
        path = re.search(r"(/organiser/password/\S+)", body.get_content())
        assert path
        clock.advance(minutes=29)
        assert (await browser.get(path.group(1))).status_code == 200
        clock.advance(minutes=2)
        assert (await browser.get(path.group(1))).status_code == 410


async def test_a_weak_or_mistyped_password_is_refused(
    server: LiveServer, sessions: SessionFactory, settings: Settings, clock: FakeClock
) -> None:
    path = await _invite(sessions, settings, clock, None)
    async with server.client() as browser:
        short = await _choose(browser, path, "court")
        differ = await _choose(browser, path, "long enough passphrase", "long enough passphrasf")
        assert short.status_code == differ.status_code == 422
        assert "12 caractères" in short.text
        assert (await _choose(browser, path, "long enough passphrase")).status_code == 303


async def test_a_hash_with_old_parameters_is_upgraded_at_login(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    organiser = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=EMAIL, name="Claire", password_hash=weak, now=clock(),
    )  # fmt: skip
    async with server.client() as browser:
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 303
    async with sessions() as session:
        stored = await session.scalar(
            select(Organiser.password_hash).where(Organiser.id == organiser.id)
        )
    assert stored is not None and stored != weak
    assert "m=65536" in stored and PasswordHasher().verify(stored, PASSWORD)
