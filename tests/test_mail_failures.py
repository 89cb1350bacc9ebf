"""A mail refused for good is recorded with its reason, erased, and not tried again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import OutboxMail, OutboxStatus
from tests.support.clock import FakeClock
from tests.support.journey import sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
pytestmark = pytest.mark.usefixtures("campaign")


async def test_permanently_refused_mail_is_dropped_with_its_reason(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock
) -> None:
    smtp.refuse.add("nobody@example.org")
    async with server.client() as browser:
        refused = await sign(browser, SLUG, signer("nobody@example.org"))
        await sign(browser, SLUG, signer("somebody@example.org"))
    assert refused.status_code == 303  # the signer sees the same page as anyone
    [delivered] = await smtp.wait_for(1)
    assert delivered["To"] == "somebody@example.org"

    clock.advance(hours=1)  # well past any retry delay
    await asyncio.sleep(1.0)
    async with sessions() as session:
        rows = (await session.execute(select(OutboxMail).order_by(OutboxMail.id))).scalars().all()
    failed, sent = rows
    assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 1)
    assert failed.last_error is not None and "550" in failed.last_error
    assert "nobody@example.org" not in failed.last_error
    assert failed.to_address is None and failed.body_text is None
    assert sent.status is OutboxStatus.SENT
    assert len(smtp.messages) == 1


async def test_mails_to_one_address_are_capped_per_day(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock
) -> None:
    async with server.client() as browser:
        answers = [await sign(browser, SLUG, signer("insistent@example.org")) for _ in range(6)]
        assert {a.status_code for a in answers} == {303}
        await smtp.wait_for(3)
        await asyncio.sleep(0.8)
        assert len(smtp.messages) == 3
        clock.advance(days=1, seconds=1)
        await sign(browser, SLUG, signer("insistent@example.org"))
        await smtp.wait_for(4)
