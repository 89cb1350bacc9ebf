"""No text that users type can become a mail header: titles are refused at input, and whatever
an older database holds, each mail leaves with its own headers only (parsed back here)."""

from __future__ import annotations

import asyncio
from collections import Counter
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import httpx
import pytest
from sqlalchemy import func, select, update

from petition import sealing
from petition.db import SessionFactory
from petition.mail import RenderedMail
from petition.models import Campaign, OutboxMail, OutboxStatus, Role
from petition.outbox import enqueue
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, sign, signer
from tests.support.public import eventually
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
OWNER = "owner@collectif-sante.org"
ATTACKS = {
    "encoded newline": "Pétition =?UTF-8?Q?=0A?=Bcc: x@evil.example",
    "encoded crlf": "Pétition =?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?= ok",
    "raw newline": "Pétition\r\nBcc: x@evil.example",
    "line separator": "Pétition\u2028Bcc: x@evil.example",
    "nul": "Pétition\x00Bcc: x@evil.example",
}
# Every header our mails carry, once each; anything else was written by someone else.
OUR_HEADERS = {
    "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version",
    "Content-Type", "Content-Transfer-Encoding",
}  # fmt: skip


def own_headers_only(message: EmailMessage) -> None:
    names = Counter(message.keys())
    assert set(names) <= OUR_HEADERS, names
    assert all(n == 1 for n in names.values()), names


@pytest.fixture
async def owner(
    sessions: SessionFactory, settings: Settings, clock: FakeClock, campaign: Campaign,
    password_hash: str,
) -> None:  # fmt: skip
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="Olga", password_hash=password_hash, now=clock(),
    )  # fmt: skip


async def _post(browser: httpx.AsyncClient, path: str, fields: dict[str, str]) -> httpx.Response:
    token = csrf_of(await browser.get("/organiser/login"))
    return await browser.post(path, data={"_csrf_token": token, **fields})


@pytest.mark.usefixtures("owner")
@pytest.mark.parametrize("title", ATTACKS.values(), ids=ATTACKS.keys())
async def test_a_title_that_could_write_a_header_is_refused_at_input(
    title: str, server: LiveServer, sessions: SessionFactory
) -> None:
    fields = {"title": title, "slug": "nouvelle", "kind": "petition", "body": "Texte."}
    fields["public_key"] = sealing.encode_public(sealing.new_key_pair()[0])
    async with server.client() as olga:
        await login(olga, OWNER, PASSWORD)
        created = await _post(olga, "/dashboard/new", fields)
        edited = await _post(olga, f"/dashboard/c/{SLUG}/edit", {**fields, "slug": SLUG})
    assert (created.status_code, edited.status_code) == (422, 422)
    assert 'id="title-error"' in created.text and 'id="title-error"' in edited.text
    async with sessions() as session:
        titles = list((await session.execute(select(Campaign.title))).scalars())
    assert titles == ["Pour une mission de contrôle sur les données de santé"]


@pytest.mark.parametrize("title", ATTACKS.values(), ids=ATTACKS.keys())
async def test_no_title_already_stored_can_add_a_header_or_a_recipient(
    title: str,
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    campaign: Campaign,
) -> None:
    """A database written before titles were checked: each mail still has only its headers."""
    if "\x00" in title and settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL cannot store NUL in text: no database there holds such a title")
    async with sessions() as session, session.begin():
        await session.execute(update(Campaign).values(title=title))
    async with server.client() as browser:
        assert (await sign(browser, SLUG, signer("marie@example.org"))).status_code == 303
    [mail] = await smtp.wait_for(1)
    await asyncio.sleep(0.3)  # a mail to a smuggled recipient would have arrived too
    assert [m["To"] for m in smtp.messages] == ["marie@example.org"]
    own_headers_only(mail)
    subject = str(mail["Subject"])
    assert subject.startswith("Confirmez votre signature : Pétition")  # the text, on one line
    assert "\n" not in subject and "\r" not in subject


async def test_every_mail_says_when_it_was_sent(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock, campaign: Campaign
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer("marie@example.org"))
    [mail] = await smtp.wait_for(1)
    own_headers_only(mail)
    sent = parsedate_to_datetime(str(mail["Date"]))
    assert abs((sent - clock()).total_seconds()) < 1


async def test_a_mail_whose_headers_cannot_be_written_is_refused_and_the_others_leave(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock,
    campaign: Campaign,
) -> None:  # fmt: skip
    """An address written before addresses were checked (an encoded word inside it): that mail
    is refused for good, and the sender goes on with the next ones."""
    async with sessions() as session, session.begin():
        await enqueue(
            session,
            template="confirm",
            to="=?UTF-8?Q?=0ABcc=3A_x=40evil.example?=@example.org",
            mail=RenderedMail("Sujet", "Texte", "<p>Texte</p>"),
            now=clock(),
        )
    async with server.client() as browser:
        await sign(browser, SLUG, signer("marie@example.org"))
    [mail] = await smtp.wait_for(1)
    assert mail["To"] == "marie@example.org"

    async def pending() -> int:
        async with sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(OutboxMail)
                    .where(OutboxMail.status == OutboxStatus.PENDING)
                )
                or 0
            )

    # The sender writes its batch down once the mail has left: the sink may have it first.
    assert await eventually(pending, lambda n: n == 0, within=10) == 0
    async with sessions() as session:
        failed = (
            await session.execute(
                select(OutboxMail).where(OutboxMail.status == OutboxStatus.FAILED)
            )
        ).scalar_one()
    assert failed.last_error is not None and "headers" in failed.last_error
    assert failed.to_address is None  # erased like any finished mail


@pytest.mark.parametrize(
    "address",
    ["=?utf-8?q?=0a?=x@example.org", "=?UTF-8?Q?=0ABcc=3A_x=40evil.example?=@example.org"],
)
async def test_an_address_with_an_encoded_word_is_refused_at_input(
    address: str, server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, campaign: Campaign
) -> None:
    async with server.client() as browser:
        answer = await sign(browser, SLUG, signer(address))
    assert answer.status_code == 422 and 'id="email-error"' in answer.text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMail)) == 0
