"""Watchers of a campaign see its count change live: one process, hundreds of watchers, and a
second process that learns of changes made through the first (PostgreSQL NOTIFY or Redis)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import httpx
import pyotp
import pytest
from sqlalchemy import func, select, update

from petition import counts
from petition.db import SessionFactory
from petition.models import Campaign, CounterShard, Role, Signature, SignatureStatus
from petition.settings import LiveBackend, Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, press_later, sign, signer
from tests.support.process import petition_serve
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink
from tests.support.sse import Watcher

SLUG = "mission-sante"
EDITOR = "editrice@collectif-sante.org"
EDITOR_TOTP = pyotp.random_base32()
EVENTS = f"/api/v1/campaigns/{SLUG}/events"


async def _sign_and_confirm(server: LiveServer, smtp: SmtpSink, email: str) -> float:
    """A real signer through HTTP and SMTP; returns the moment the confirmation was answered."""
    already = len(smtp.messages)
    async with server.client() as browser:
        assert (await sign(browser, SLUG, signer(email))).status_code == 303
        mail = (await smtp.wait_for(already + 1))[-1]
        confirmed = await press(browser, link(mail, "confirm"))
        assert confirmed.status_code == 303
        return time.monotonic()


@pytest.mark.usefixtures("campaign")
async def test_a_watcher_sees_a_confirmation_within_two_seconds(
    server: LiveServer, smtp: SmtpSink
) -> None:
    watcher = await Watcher.open(server.base_url + EVENTS)
    try:
        assert watcher.headers[":status"] == "200"
        assert watcher.headers["content-type"].startswith("text/event-stream")
        assert watcher.headers["access-control-allow-origin"] == "*"
        first = await watcher.next_event(within=5)
        assert first.name == "count"
        assert first.data == {
            "count": 0,
            "goal": 1000,
            "status": "open",
            "last_signature_at": None,
        }

        confirmed_at = await _sign_and_confirm(server, smtp, "ada@example.org")
        assert await watcher.count_after(0, within=2) == 1
        assert time.monotonic() - confirmed_at < 2
    finally:
        await watcher.close()


@pytest.mark.usefixtures("campaign")
async def test_five_hundred_watchers_on_one_process_all_see_the_change(
    server: LiveServer, smtp: SmtpSink
) -> None:
    watchers = await asyncio.gather(*(Watcher.open(server.base_url + EVENTS) for _ in range(500)))
    try:
        firsts = await asyncio.gather(*(w.next_event(within=10) for w in watchers))
        assert {e.data["count"] for e in firsts} == {0}

        await _sign_and_confirm(server, smtp, "ada@example.org")
        seen = await asyncio.gather(*(w.count_after(0, within=5) for w in watchers))
        assert seen == [1] * 500
    finally:
        await asyncio.gather(*(w.close() for w in watchers))


@pytest.mark.parametrize("bus", ["postgresql", "redis"])
async def test_a_second_process_hears_of_changes_made_through_the_first(
    bus: str,
    request: pytest.FixtureRequest,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    campaign: Campaign,
) -> None:
    if bus == "postgresql" and not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL")
    redis_url = request.getfixturevalue("redis_url") if bus == "redis" else ""
    # Both processes read again only after a minute if nothing is announced: what the second
    # one shows within seconds can only have come through the bus.
    backend: LiveBackend = "postgresql" if bus == "postgresql" else "redis"
    shared = dataclasses.replace(
        settings, live_backend=backend, redis_url=redis_url, live_resync=60.0
    )
    env = {
        "PETITION_DATABASE_URL": shared.resolved_database_url,
        "PETITION_SECRET_KEY": shared.secret_key,
        "PETITION_VAR_DIR": str(shared.var_dir / "second"),
        "PETITION_BASE_URL": shared.base_url,
        "PETITION_RUN_MAIL_SENDER": "false",
        "PETITION_LIVE_BACKEND": bus,
        "PETITION_REDIS_URL": redis_url,
        "PETITION_LIVE_RESYNC": "60",
    }
    async with serve(shared, clock) as first, petition_serve(env) as process:
        second = process.base_url
        watcher = await Watcher.open(second + EVENTS)
        try:
            assert (await watcher.next_event(within=5)).data["count"] == 0
            await _sign_and_confirm(first, smtp, "ada@example.org")
            assert await watcher.count_after(0, within=3) == 1
            async with httpx.AsyncClient(base_url=second) as api:
                detail = (await api.get(f"/api/v1/campaigns/{SLUG}")).json()
            assert detail["campaign"]["count"] == 1
        finally:
            await watcher.close()


@pytest.mark.usefixtures("campaign")
async def test_a_drifted_counter_is_reported_then_repaired_from_the_command_line(
    settings: Settings, clock: FakeClock, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    quick = dataclasses.replace(settings, live_resync=1.0)
    async with serve(quick, clock) as server:
        for n in range(3):
            await _sign_and_confirm(server, smtp, f"signer{n}@example.org")
        async with sessions() as session, session.begin():
            await session.execute(update(CounterShard).values(confirmed=5))  # 8 shards: 40

        env = {
            "PETITION_DATABASE_URL": settings.resolved_database_url,
            "PETITION_SECRET_KEY": settings.secret_key,
            "PETITION_VAR_DIR": str(settings.var_dir),
        }
        code, out = await _petition(env, "counts", "check")
        assert code == 1
        assert f"{SLUG}: counter 40, confirmed signatures 3" in out
        code, out = await _petition(env, "counts", "check", "--fix")
        assert code == 0 and "repaired" in out
        code, out = await _petition(env, "counts", "check")
        assert code == 0 and "every counter equals" in out

        watcher = await Watcher.open(server.base_url + EVENTS)
        try:
            count = (await watcher.next_event(within=5)).data["count"]
            if count != 3:  # the repair reaches a server at its next reading at the latest
                count = await watcher.count_after(int(str(count)), within=3)
            assert count == 3
        finally:
            await watcher.close()


def _number(mail: EmailMessage) -> int:
    return int(str(mail["To"]).removeprefix("signer").split("@")[0])


def _invalidate_later(
    editor: httpx.AsyncClient, token: str, signature_id: int
) -> Callable[[], Awaitable[httpx.Response]]:
    async def fire() -> httpx.Response:
        form = {"_csrf_token": token, "id": str(signature_id), "reason": "doublon"}
        return await editor.post(f"/dashboard/c/{SLUG}/signatures/invalidate", data=form)

    return fire


async def _petition(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "petition.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode()


SIGNERS, WITHDRAWING, INVALIDATED = 24, 6, 6


async def test_counters_equal_rows_after_confirmations_withdrawals_and_invalidations(
    campaign: Campaign,
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
        totp_secret=EDITOR_TOTP,
    )  # fmt: skip
    async with server.client() as browser:
        for n in range(SIGNERS):
            fields = signer(f"signer{n}@example.org", first_name=f"Signer{n}")
            assert (await sign(browser, SLUG, fields)).status_code == 303
    mails = {_number(m): m for m in await smtp.wait_for(SIGNERS)}
    async with sessions() as session:
        ids = dict((await session.execute(select(Signature.first_name, Signature.id))).all())
    # Disjoint groups: the first withdraw, the next are invalidated by an editor; everyone
    # presses "confirm" twice; every request is fired at the same moment.
    paths = [link(mails[n], "confirm") for n in range(SIGNERS)] * 2
    paths += [link(mails[n], "withdraw") for n in range(WITHDRAWING)]
    invalidated = [ids[f"Signer{n}"] for n in range(WITHDRAWING, WITHDRAWING + INVALIDATED)]
    editor = server.client()
    clients = [server.client() for _ in paths]
    try:
        code = pyotp.TOTP(EDITOR_TOTP).at(clock())  # names are seen with a second factor
        assert (await login(editor, EDITOR, PASSWORD, code)).status_code == 303
        fires = [await press_later(c, p) for c, p in zip(clients, paths, strict=True)]
        token = csrf_of(await editor.get(f"/dashboard/c/{SLUG}/signatures"))
        fires += [_invalidate_later(editor, token, ident) for ident in invalidated]
        answers = await asyncio.gather(*(fire() for fire in fires))
    finally:
        await asyncio.gather(*(c.aclose() for c in [*clients, editor]))
    assert all(a.status_code in (303, 404, 410) for a in answers), [a.status_code for a in answers]

    expected = SIGNERS - WITHDRAWING - INVALIDATED
    assert await _confirmed_rows(sessions, campaign) == expected
    async with sessions() as session:
        assert await counts.confirmed(session, campaign.id) == expected
    # And what the public sees, once the snapshot has caught up.
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        for _ in range(30):
            shown = (await api.get(f"/api/v1/campaigns/{SLUG}")).json()["campaign"]["count"]
            if shown == expected:
                break
            await asyncio.sleep(0.1)
    assert shown == expected


async def _confirmed_rows(sessions: SessionFactory, campaign: Campaign) -> int:
    async with sessions() as session:
        total = await session.scalar(
            select(func.count()).where(
                Signature.campaign_id == campaign.id,
                Signature.status == SignatureStatus.CONFIRMED,
            )
        )
    return int(total or 0)
