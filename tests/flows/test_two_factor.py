"""An organiser turns on two-factor authentication; then login needs the code, and exports open."""

from __future__ import annotations

import re

import pyotp
import pytest
from argon2 import PasswordHasher

from petition.db import SessionFactory
from petition.models import Campaign, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of
from tests.support.server import LiveServer

PASSWORD = "une phrase de passe assez longue"
EMAIL = "claire@collectif-sante.org"


@pytest.fixture
async def claire(
    sessions: SessionFactory, settings: Settings, clock: FakeClock, campaign: Campaign
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=EMAIL, name="Claire", password_hash=PasswordHasher().hash(PASSWORD), now=clock(),
    )  # fmt: skip


@pytest.mark.usefixtures("claire")
async def test_enrol_then_login_requires_the_code_and_export_opens(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, EMAIL, PASSWORD)
        board = await browser.get("/dashboard/c/mission-sante")
        assert "/organiser/2fa" in board.text and "/export" not in board.text
        refused = await browser.post(
            "/dashboard/c/mission-sante/export",
            data={"_csrf_token": csrf_of(await browser.get("/organiser/2fa")), "format": "csv"},
        )
        assert refused.status_code == 403

        enrol = await browser.get("/organiser/2fa")
        assert "<svg" in enrol.text and "<script" not in enrol.text
        match = re.search(r'name="secret" value="([A-Z2-7]+)"', enrol.text)
        assert match
        secret = match.group(1)
        form = {"_csrf_token": csrf_of(enrol), "secret": secret}
        wrong = await browser.post("/organiser/2fa", data={**form, "code": "000000"})
        assert wrong.status_code == 422
        right = await browser.post(
            "/organiser/2fa", data={**form, "code": pyotp.TOTP(secret).at(clock())}
        )
        assert right.status_code == 303

    async with server.client() as browser:
        assert (await login(browser, EMAIL, PASSWORD)).status_code == 400  # the code is now needed
        clock.advance(seconds=30)
        code = pyotp.TOTP(secret).at(clock())
        assert (await login(browser, EMAIL, PASSWORD, code)).status_code == 303
        assert (await login(browser, EMAIL, PASSWORD, code)).status_code == 400  # no replay
        board = await browser.get("/dashboard/c/mission-sante")
        assert "/export" in board.text
