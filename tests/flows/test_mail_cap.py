"""At most three mails a day reach one address from signing, however the requests arrive, and
each kind of mail has its own allowance: signers' mail cannot block an organiser's reset."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from petition import retention
from petition.db import SessionFactory
from petition.models import Campaign, MailAllowance, Role, Signature
from petition.settings import Settings
from tests.support import factories
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
ADDRESS = "insistante@example.org"
pytestmark = pytest.mark.usefixtures("campaign")


async def _settled(smtp: SmtpSink, count: int) -> int:
    """Wait for `count` mails, then a moment more: how many reached ADDRESS in the end."""
    await smtp.wait_for(count)
    await asyncio.sleep(1.0)
    return len(smtp.to(ADDRESS))


async def test_fifty_identical_signings_at_once_on_two_servers_send_three_mails(
    settings: Settings, clock: FakeClock, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with serve(settings, clock) as one, serve(settings, clock) as two:
        browsers = [(one if n % 2 else two).client() for n in range(50)]
        try:
            answers = await asyncio.gather(*(sign(b, SLUG, signer(ADDRESS)) for b in browsers))
        finally:
            await asyncio.gather(*(b.aclose() for b in browsers))
        assert {a.status_code for a in answers} == {303}
        assert await _settled(smtp, 3) == settings.mail_per_address_per_day == 3
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 1


async def test_withdrawing_does_not_give_the_address_a_new_day(
    server: LiveServer, smtp: SmtpSink
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer(ADDRESS))
        [first] = await smtp.wait_for(1)
        assert (await press(browser, link(first, "withdraw"))).status_code == 303
        for _ in range(4):
            assert (await sign(browser, SLUG, signer(ADDRESS))).status_code == 303
        assert await _settled(smtp, 3) == 3


@pytest.mark.parametrize(("hours", "mails"), [(23, 3), (24, 4)])
async def test_a_new_signature_at_the_cap_gets_its_mail_only_on_the_address_s_next_day(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock, hours: int, mails: int
) -> None:
    """The cap holds for a new signature too (recorded, its mail not sent) until a day after
    the address's first mail, to the microsecond."""
    async with server.client() as browser:
        for _ in range(3):
            await sign(browser, SLUG, signer(ADDRESS))
        first, *_ = await smtp.wait_for(3)
        assert (await press(browser, link(first, "withdraw"))).status_code == 303
        clock.advance(hours=hours)
        assert (await sign(browser, SLUG, signer(ADDRESS))).status_code == 303
        assert await _settled(smtp, mails) == mails


async def test_mails_to_an_address_as_a_signer_leave_its_organiser_mail_alone(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    """Whoever knows an organiser's address can use up its signing mail; not its reset."""
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=ADDRESS, name="Olga", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    async with server.client() as browser:
        for _ in range(4):
            await sign(browser, SLUG, signer(ADDRESS))
        assert await _settled(smtp, 3) == 3
        page = await browser.get("/organiser/reset")
        await browser.post(
            "/organiser/reset", data={"_csrf_token": csrf_of(page), "email": ADDRESS}
        )
        mails = await smtp.wait_for(4)
    assert "/organiser/password/" in str(mails[3].get_body(("plain",)))


async def test_the_count_of_an_address_s_mails_is_forgotten_after_its_day(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock,
    settings: Settings,
) -> None:  # fmt: skip
    async with server.client() as browser:
        await sign(browser, SLUG, signer(ADDRESS))
        await smtp.wait_for(1)
    policy = retention.Policy.from_settings(settings)
    for hours, left in ((23, 1), (2, 0)):
        clock.advance(hours=hours)
        async with sessions() as session, session.begin():
            await retention.purge(session, clock(), policy)
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(MailAllowance)) == left
