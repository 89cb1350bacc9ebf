"""Expired, used and forged links get a clear page and change nothing."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, displayed_count, link, press, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
pytestmark = pytest.mark.usefixtures("campaign")


async def test_expired_confirmation_link_is_refused_and_counts_nothing(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        page = await browser.get(link(mail, "confirm"))
        clock.advance(days=7, seconds=1)
        late_get = await browser.get(link(mail, "confirm"))
        late_post = await browser.post(link(mail, "confirm"), data={"_csrf_token": csrf_of(page)})
        for answer in (late_get, late_post):
            assert answer.status_code == 410
            assert "Ce lien a expiré" in answer.text
            assert answer.headers["cache-control"] == "no-store"
        assert await displayed_count(browser, SLUG) == 0


async def test_a_used_link_counts_nothing_more(server: LiveServer, smtp: SmtpSink) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        page = await browser.get(link(mail, "confirm"))
        first = await browser.post(link(mail, "confirm"), data={"_csrf_token": csrf_of(page)})
        second = await browser.post(link(mail, "confirm"), data={"_csrf_token": csrf_of(page)})
        reopened = await browser.get(link(mail, "confirm"))
        assert first.status_code == 303
        assert second.status_code == 410
        assert reopened.status_code == 410
        assert "déjà été utilisé" in second.text
        assert await displayed_count(browser, SLUG) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/confirm/" + "A" * 43,
        "/confirm/short",
        "/confirm/" + "é" * 50,
        "/withdraw/" + "B" * 43,
    ],
)
async def test_forged_link_is_refused(server: LiveServer, smtp: SmtpSink, path: str) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        page = await browser.get(path)
        posted = await browser.post(
            path, data={"_csrf_token": csrf_of(await browser.get(f"/c/{SLUG}"))}
        )
        assert page.status_code == 404
        assert posted.status_code == 404
        assert "Ce lien n’est pas valide" in page.text
        # The genuine link still works: a forged one disturbed nothing.
        assert (await press(browser, link(mail, "confirm"))).status_code == 303


async def test_a_confirmation_link_cannot_withdraw_and_vice_versa(
    server: LiveServer, smtp: SmtpSink
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        confirm_token = link(mail, "confirm").rsplit("/", 1)[1]
        withdraw_token = link(mail, "withdraw").rsplit("/", 1)[1]
        assert (await browser.get(f"/withdraw/{confirm_token}")).status_code == 404
        assert (await browser.get(f"/confirm/{withdraw_token}")).status_code == 404
