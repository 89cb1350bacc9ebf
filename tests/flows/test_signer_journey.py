"""Camille signs the Senate petition, confirms by mail, then changes her mind."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import OutboxMail, Signature, SignatureStatus
from tests.support.journey import displayed_count, link, press, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
pytestmark = pytest.mark.usefixtures("campaign")


async def test_sign_confirm_by_mail_and_count(server: LiveServer, smtp: SmtpSink) -> None:
    async with server.client() as browser:
        answer = await sign(browser, SLUG, signer("camille@example.org"))
        assert answer.status_code == 303
        thanks = await browser.get(answer.headers["location"])
        assert "Consultez votre messagerie" in thanks.text

        [mail] = await smtp.wait_for(1)
        assert mail["To"] == "camille@example.org"
        assert await displayed_count(browser, SLUG) == 0

        confirmed = await press(browser, link(mail, "confirm"))
        assert confirmed.status_code == 303
        assert await displayed_count(browser, SLUG) == 1


async def test_signing_twice_shows_the_same_page_and_counts_once(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        first = await sign(browser, SLUG, signer())
        [confirm_mail] = await smtp.wait_for(1)
        pending_again = await sign(browser, SLUG, signer())
        await press(browser, link(confirm_mail, "confirm"))
        confirmed_again = await sign(browser, SLUG, signer(first_name="Autre"))

        pages = [
            await browser.get(r.headers["location"])
            for r in (first, pending_again, confirmed_again)
        ]
        assert {r.status_code for r in (first, pending_again, confirmed_again)} == {303}
        assert len({p.text for p in pages}) == 1
        assert await displayed_count(browser, SLUG) == 1

    mails = await smtp.wait_for(3)
    subjects = [m["Subject"] for m in mails]
    assert subjects[1].startswith("Confirmez votre signature")  # pending: the link again
    assert subjects[2].startswith("Vous avez déjà signé")  # confirmed: "you already signed"
    async with sessions() as session:
        rows = (await session.execute(select(Signature))).scalars().all()
    assert [(r.first_name, r.status) for r in rows] == [("Marie", SignatureStatus.CONFIRMED)]


async def test_opening_the_link_without_pressing_confirms_nothing(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        # What a mail scanner does: fetch the link, twice, follow nothing else.
        for _ in range(2):
            page = await browser.get(link(mail, "confirm"))
            assert page.status_code == 200
            assert "<form" in page.text
        assert await displayed_count(browser, SLUG) == 0
    async with sessions() as session:
        status = (await session.execute(select(Signature.status))).scalar_one()
    assert status is SignatureStatus.PENDING


async def test_withdrawal_uncounts_and_erases_personal_data(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        await press(browser, link(mail, "confirm"))
        assert await displayed_count(browser, SLUG) == 1

        gone = await press(browser, link(mail, "withdraw"))
        assert gone.status_code == 303
        assert (await browser.get(gone.headers["location"])).status_code == 200
        assert await displayed_count(browser, SLUG) == 0
        again = await browser.get(link(mail, "withdraw"))
        assert again.status_code == 404

    async with sessions() as session:
        row = (await session.execute(select(Signature))).scalar_one()
        outbox = (await session.execute(select(OutboxMail))).scalars().all()
    assert row.status is SignatureStatus.WITHDRAWN
    assert (row.first_name, row.last_name, row.role, row.organisation, row.email_hash) == (
        None, None, None, None, None,
    )  # fmt: skip
    assert all(m.to_address is None and m.signature_id is None for m in outbox)


async def test_a_withdrawn_signer_can_sign_again(server: LiveServer, smtp: SmtpSink) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        await press(browser, link(mail, "withdraw"))
        await sign(browser, SLUG, signer())
        mails = await smtp.wait_for(2)
        await press(browser, link(mails[1], "confirm"))
        assert await displayed_count(browser, SLUG) == 1


async def test_an_address_beyond_ascii_gets_its_mail(server: LiveServer, smtp: SmtpSink) -> None:
    """An internationalised address (RFC 6531) gets its mail: it leaves with SMTPUTF8."""
    async with server.client() as camille:
        answer = await sign(camille, SLUG, signer("camille@bücher.example"))
        assert answer.status_code == 303
        [mail] = await smtp.wait_for(1)
    assert mail["To"] == "camille@bücher.example"
    assert mail["Subject"].startswith("Confirmez votre signature")
