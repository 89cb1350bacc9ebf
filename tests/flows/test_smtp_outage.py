"""The mail server is down while 50 people sign: nothing is lost, nothing is sent twice."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

from sqlalchemy import func, select

from petition.db import SessionFactory
from petition.models import OutboxMail, OutboxStatus, Signature
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import make_campaign, sign, signer
from tests.support.server import serve
from tests.support.smtp import SmtpSink, free_port

SLUG = "mission-sante"
SIGNERS = 50


async def test_signatures_survive_an_smtp_outage_and_mail_goes_out_once_when_it_is_back(
    settings: Settings, sessions: SessionFactory, clock: FakeClock
) -> None:
    down_port = free_port()  # nothing listens here until the server "comes back"
    settings = dataclasses.replace(settings, smtp_port=down_port)
    await make_campaign(sessions, clock)
    addresses = [f"soignant{n}@example.org" for n in range(SIGNERS)]

    async with serve(settings, clock) as server:

        async def one(address: str) -> int:
            async with server.client() as browser:
                return (await sign(browser, SLUG, signer(address))).status_code

        statuses = await asyncio.gather(*(one(a) for a in addresses))
        assert statuses == [303] * SIGNERS
        await asyncio.sleep(1.0)  # let the sender try, and fail, a few times

        async with sessions() as session:
            stored = (await session.execute(select(func.count()).select_from(Signature))).scalar()
            waiting = (await session.execute(select(OutboxMail))).scalars().all()
        assert stored == SIGNERS
        assert len(waiting) == SIGNERS
        assert all(m.status is OutboxStatus.PENDING and m.attempts >= 1 for m in waiting)
        assert all(m.last_error and "cannot reach" in m.last_error for m in waiting)

        sink = SmtpSink(port=down_port)
        sink.start()
        clock.advance(minutes=1)  # time passes: the retries fall due
        try:
            await sink.wait_for(SIGNERS, within=20)
            await asyncio.sleep(1.5)  # a duplicate would arrive in this window
            received = Counter(m["To"] for m in sink.messages)
        finally:
            sink.stop()

    assert sorted(received) == sorted(addresses)
    assert set(received.values()) == {1}
    async with sessions() as session:
        sent = (await session.execute(select(OutboxMail))).scalars().all()
    assert {m.status for m in sent} == {OutboxStatus.SENT}
    assert all(m.to_address is None and m.body_text is None for m in sent)
