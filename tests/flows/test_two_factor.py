"""An organiser turns on two-factor authentication; then login needs the code, and names open:
exports, search, moderation, quarantine. The secret is sealed at rest."""

from __future__ import annotations

import re

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from petition import totp
from petition.db import SessionFactory
from petition.models import Campaign, Organiser, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of
from tests.support.server import LiveServer, serve

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
async def test_enrol_then_login_requires_the_code_and_names_open(
    server: LiveServer, clock: FakeClock, sessions: SessionFactory
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
        for path in NAMED_PAGES:
            assert (await browser.get(path)).status_code == 200, path

    async with sessions() as session:
        stored = await session.scalar(select(Organiser.totp_secret))
    # At rest, the secret is sealed with a key from the server secret: not readable, not usable.
    assert stored is not None and secret not in stored
    assert stored.startswith("box1:")


SLUG_PAGES = "/dashboard/c/mission-sante"
NAMED_PAGES = [
    f"{SLUG_PAGES}/signatures",
    f"{SLUG_PAGES}/signatures?status=pending",
    f"{SLUG_PAGES}/moderate?name=Curie",
    f"{SLUG_PAGES}/quarantine",
]


@pytest.mark.usefixtures("claire")
async def test_names_stay_closed_to_a_password_alone(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    """A stolen password opens the figures, never the signers' names."""
    signature = await factories.signature(
        sessions, campaign, status=SignatureStatus.CONFIRMED, at=clock(), last_name="Curie"
    )
    async with server.client() as browser:
        await login(browser, EMAIL, PASSWORD)
        assert (await browser.get(SLUG_PAGES)).status_code == 200
        for path in NAMED_PAGES:
            page = await browser.get(path)
            assert page.status_code == 403, path
            assert "Curie" not in page.text and 'href="/organiser/2fa"' in page.text, path
        token = csrf_of(await browser.get("/organiser/2fa"))
        acts = [
            (f"{SLUG_PAGES}/signatures/invalidate", {"id": str(signature.id), "reason": "x"}),
            (f"{SLUG_PAGES}/moderate", {"name": "Curie", "reason": "x"}),
            (f"{SLUG_PAGES}/quarantine/release", {"id": str(signature.id)}),
        ]
        for path, fields in acts:
            answer = await browser.post(path, data={"_csrf_token": token, **fields})
            assert answer.status_code == 403, path
    async with sessions() as session:
        status = await session.scalar(select(Signature.status))
    assert status is SignatureStatus.CONFIRMED


async def test_a_secret_stored_in_clear_by_an_earlier_version_is_sealed_at_start(
    sessions: SessionFactory, settings: Settings, clock: FakeClock, campaign: Campaign
) -> None:
    secret = pyotp.random_base32()
    organiser = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=EMAIL, name="Claire", password_hash=PasswordHasher().hash(PASSWORD), now=clock(),
    )  # fmt: skip
    async with sessions() as session, session.begin():
        await session.execute(
            update(Organiser).where(Organiser.id == organiser.id).values(totp_secret=secret)
        )
    async with serve(settings, clock) as server, server.client() as browser:
        code = pyotp.TOTP(secret).at(clock())
        assert (await login(browser, EMAIL, PASSWORD, code)).status_code == 303
    async with sessions() as session:
        stored = await session.scalar(select(Organiser.totp_secret))
    assert stored is not None and stored.startswith("box1:") and secret not in stored


@pytest.mark.usefixtures("claire")
async def test_a_sealed_secret_opens_only_with_its_server_secret(
    settings: Settings, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A database copied to another server (another secret) gives no usable second factor."""
    secret = pyotp.random_base32()
    async with sessions() as session, session.begin():
        sealed = totp.seal(totp.sealing_key(b"another server's secret, 32 chars+"), secret)
        await session.execute(update(Organiser).values(totp_secret=sealed))
    async with serve(settings, clock) as server, server.client() as browser:
        code = pyotp.TOTP(secret).at(clock())
        assert (await login(browser, EMAIL, PASSWORD, code)).status_code == 400
