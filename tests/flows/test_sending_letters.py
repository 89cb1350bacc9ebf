"""Organisers send the letter to 30 addressees through a real SMTP server: one mail each, with
its own salutation and its own pack; never twice, whatever is clicked again; a mail interrupted
by a crash is reported, not sent a second time on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import signal
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import pypdf
from sqlalchemy import select, update

from petition.db import SessionFactory
from petition.models import Addressee, Campaign, OutboxMail, Publication, Role, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of
from tests.support.process import petition_serve
from tests.support.public import signatures
from tests.support.server import serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
EDITOR = "editrice@collectif-sante.org"
N = 30


def _salutation(n: int) -> str:
    return "Madame la directrice" if n % 2 else "Monsieur le directeur"


def _csv() -> str:
    lines = ["salutation,name,title,institution,email,organisations,domains"]
    lines += [
        f"{_salutation(n)},Direction {n},Directeur,CH numéro {n},direction{n}@ch{n}.example,,"
        for n in range(N)
    ]
    return "\n".join(lines) + "\n"


async def _post(browser: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    token = csrf_of(await browser.get("/organiser/login"))
    return await browser.post(path, data={"_csrf_token": token, **fields})


def _pdf_text(message: EmailMessage) -> str:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    pages = pypdf.PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def _arrange(
    campaign: Campaign, settings: Settings, clock: FakeClock, sessions: SessionFactory, hash_: str
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=hash_, now=clock(),
    )  # fmt: skip
    for n in range(N):
        await signatures(
            sessions, campaign,
            [(f"Soignant{n}", "Dupont", Publication.NAME_ROLE_ORG, SignatureStatus.CONFIRMED,
              clock())],
            role="Médecin", organisation=f"CH numéro {n}",
        )  # fmt: skip


async def _import(browser: httpx.AsyncClient) -> None:
    await login(browser, EDITOR, PASSWORD)
    token = csrf_of(await browser.get("/organiser/login"))
    imported = await browser.post(
        f"/dashboard/c/{SLUG}/addressees",
        data={"_csrf_token": token},
        files={"file": ("d.csv", _csv().encode(), "text/csv")},
    )
    assert imported.status_code == 303, imported.text


async def _queue_all_without_sending(settings: Settings, clock: FakeClock) -> None:
    """Import the addressees and queue the letter to all, on a server that sends no mail."""
    queueing = dataclasses.replace(settings, run_mail_sender=False, letter_mails_per_hour=360000)
    async with serve(queueing, clock) as server, server.client() as browser:
        await _import(browser)
        send = f"/dashboard/c/{SLUG}/addressees/send"
        assert (await _post(browser, send, action="all")).status_code == 303


async def test_thirty_addressees_each_get_their_own_letter_once(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _arrange(campaign, settings, clock, sessions, password_hash)
    paced = dataclasses.replace(settings, letter_mails_per_hour=3600, breakdown_seconds=0)
    async with serve(paced, clock) as server, server.client() as browser:
        await _import(browser)
        send = f"/dashboard/c/{SLUG}/addressees/send"
        assert (
            await _post(browser, send, action="test", test_to="moi@collectif.org")
        ).status_code == 303
        [test] = await smtp.wait_for(1)
        assert str(test["To"]) == "moi@collectif.org" and str(test["Subject"]).startswith("[TEST]")

        assert (await _post(browser, send, action="all")).status_code == 303
        assert (await _post(browser, send, action="all")).status_code == 303  # a double click
        # One a second (3600 an hour): the first leaves now, the last 29 s later.
        page = await browser.get(f"/dashboard/c/{SLUG}/addressees")
        assert page.text.count('data-status="queued"') == N - 1
        clock.advance(seconds=N)
        mails = (await smtp.wait_for(N + 1))[1:]
        page = await browser.get(f"/dashboard/c/{SLUG}/addressees")
        assert page.text.count('data-status="sent"') == N
        assert (await _post(browser, send, action="failed")).status_code == 303

    assert sorted(str(m["To"]) for m in mails) == sorted(
        f"direction{n}@ch{n}.example" for n in range(N)
    )
    assert len(smtp.messages) == N + 1  # nothing more after the double click and the resend
    for message in mails:
        n = int(str(message["To"]).removeprefix("direction").split("@")[0])
        body = message.get_body(("plain",))
        assert body is not None and body.get_content().startswith(f"{_salutation(n)},")
        text = _pdf_text(message)
        assert f"{_salutation(n)}," in text
        own = text.index(f"Signataires de CH numéro {n} (1)")
        assert (
            own < text.index(f"Soignant{n} Dupont") < text.index("Tous les autres signataires (29)")
        )


async def test_a_letter_interrupted_by_a_crash_is_reported_not_sent_again(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _arrange(campaign, settings, clock, sessions, password_hash)
    # A first server queues the letters and dies before sending any (no mail sender running).
    await _queue_all_without_sending(settings, clock)
    # It had handed the first letter to the mail server when it was killed: that is what the
    # outbox shows after such a crash (the letter marked as being sent, never finished).
    async with sessions() as session, session.begin():
        first = await session.scalar(select(Addressee.outbox_id).order_by(Addressee.id))
        await session.execute(
            update(OutboxMail).where(OutboxMail.id == first).values(sending_since=clock())
        )
    clock.advance(minutes=10)  # past the lease of the dead process

    async with serve(settings, clock) as server, server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        mails = await smtp.wait_for(N - 1)
        page = await browser.get(f"/dashboard/c/{SLUG}/addressees")
        assert page.text.count('data-status="sent"') == N - 1
        assert page.text.count('data-status="failed"') == 1 and "interrompu" in page.text
        assert "direction0@ch0.example" not in [str(m["To"]) for m in mails]
        # The organisers checked with that hospital: they send it again, knowingly.
        resend = await _post(browser, f"/dashboard/c/{SLUG}/addressees/send", action="failed")
        assert resend.status_code == 303
        clock.advance(seconds=1)
        again = await smtp.wait_for(N)
    assert [str(m["To"]) for m in again].count("direction0@ch0.example") == 1


async def test_a_server_killed_in_the_middle_of_sending_sends_none_twice_after_restart(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _arrange(campaign, settings, clock, sessions, password_hash)
    await _queue_all_without_sending(settings, clock)
    # The process below runs by the real clock, which the test's may be hours ahead of (late
    # in the UTC evening, tests/support/clock.py): its letters are due by that clock too.
    async with sessions() as session, session.begin():
        await session.execute(update(OutboxMail).values(next_attempt_at=datetime.now(UTC)))

    # A real server process sends them, and is killed while the mail server holds the 6th.
    held = "direction5@ch5.example"
    smtp.hold.add(held)
    env = {
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_VAR_DIR": str(settings.var_dir / "killed"),
        "PETITION_BASE_URL": settings.base_url,
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(smtp.port),
        "PETITION_SMTP_TLS": "none",
        "PETITION_OUTBOX_POLL_INTERVAL": "0.2",
    }
    async with petition_serve(env) as process:
        for _ in range(300):
            if smtp.holding.is_set():
                break
            await asyncio.sleep(0.05)
        assert smtp.holding.is_set(), "the sender never reached the held mail"
        os.kill(process.pid, signal.SIGKILL)
    smtp.release.set()
    smtp.hold.clear()  # from now on the mail server would accept it: a resend would show
    before = [str(m["To"]) for m in smtp.messages]
    assert before == [f"direction{n}@ch{n}.example" for n in range(5)]

    clock.advance(minutes=10)  # the dead process's lease is over
    async with serve(settings, clock) as server, server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        mails = await smtp.wait_for(N - 1)
        await asyncio.sleep(0.5)  # would anything more leave?
        page = await browser.get(f"/dashboard/c/{SLUG}/addressees")
    received = [str(m["To"]) for m in smtp.messages]
    assert len(received) == len(set(received)) == N - 1 == len(mails)
    assert held not in received
    assert page.text.count('data-status="failed"') == 1 and "interrompu" in page.text
