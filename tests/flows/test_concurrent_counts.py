"""The counter agrees with the rows after concurrent confirmations and withdrawals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy import func, select

from petition import counts
from petition.db import SessionFactory
from petition.models import Campaign, Signature, SignatureStatus
from tests.support.journey import displayed_count, link, press_later, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
SIGNERS = 30
WITHDRAWING = 8


async def test_counter_equals_rows_after_concurrent_confirmations(
    campaign: Campaign, server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        for n in range(SIGNERS):
            await sign(browser, SLUG, signer(f"signer{n}@example.org"))
    mails = await smtp.wait_for(SIGNERS)
    clients = [server.client() for _ in range(3 * SIGNERS)]
    try:
        posts: list[Coroutine[Any, Any, Callable[[], Awaitable[httpx.Response]]]] = []
        # Every link pressed twice at once, and some signers withdrawing at the same moment.
        for n, mail in enumerate(mails):
            paths = [link(mail, "confirm")] * 2
            if n < WITHDRAWING:
                paths.append(link(mail, "withdraw"))
            for path in paths:
                posts.append(press_later(clients[len(posts)], path))
        prepared = await asyncio.gather(*posts)
        answers = await asyncio.gather(*(fire() for fire in prepared))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert all(a.status_code in (303, 404, 410) for a in answers)

    async with sessions() as session:
        rows = await session.execute(
            select(func.count())
            .select_from(Signature)
            .where(
                Signature.campaign_id == campaign.id, Signature.status == SignatureStatus.CONFIRMED
            )
        )
        confirmed_rows = rows.scalar_one()
        counter = await counts.confirmed(session, campaign.id)
    assert confirmed_rows == SIGNERS - WITHDRAWING
    assert counter == confirmed_rows
    async with server.client() as browser:
        assert await displayed_count(browser, SLUG) == confirmed_rows
