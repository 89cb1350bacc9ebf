"""Four-eyes approval as a campaign's setting: on by default, off only for a single organiser,
back on with a second one, and stated on the privacy notice of each version."""

from __future__ import annotations

import httpx
import pyotp
import pytest
from sqlalchemy import select

from petition import privacy, readers, sealing
from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, ExportRequest, PrivacyNotice, Role
from petition.settings import Settings
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.factories import organiser_with_role
from tests.support.journey import csrf_of, make_campaign
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
CLAIRE = "claire@collectif.org"
TOTP = pyotp.random_base32()
DASHBOARD = f"/dashboard/c/{SLUG}"


@pytest.fixture
async def sealed(sessions: SessionFactory, settings: Settings, clock: FakeClock) -> Campaign:
    """A sealed campaign, its notice written (version 1), with Claire as its only organiser."""
    campaign = await make_campaign(sessions, clock)
    async with sessions() as session, session.begin():
        fresh = await session.get(Campaign, campaign.id)
        assert fresh is not None
        await readers.add_campaign_key(session, fresh, sealing.new_key_pair()[0], clock())
        await privacy.current(session, fresh, settings, clock())
    return campaign


@pytest.fixture
async def claire(
    sealed: Campaign,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
) -> None:
    await organiser_with_role(
        sessions, settings.load_secret_key(), sealed, Role.OWNER, email=CLAIRE, name="Claire",
        password_hash=password_hash, now=clock(), totp_secret=TOTP,
    )  # fmt: skip


async def _signed_in(browser: httpx.AsyncClient, clock: FakeClock, email: str = CLAIRE) -> str:
    answer = await login(browser, email, PASSWORD, pyotp.TOTP(TOTP).at(clock()))
    assert answer.status_code == 303
    return csrf_of(await browser.get(DASHBOARD))


async def _edit(browser: httpx.AsyncClient, token: str, **fields: str) -> httpx.Response:
    """The campaign form as saved, with these fields changed."""
    form = {"title": "Mission de contrôle", "kind": "petition", "body": "Nous demandons."}
    return await browser.post(f"{DASHBOARD}/edit", data={"_csrf_token": token, **form, **fields})


async def _export(browser: httpx.AsyncClient, token: str) -> httpx.Response:
    return await browser.post(
        f"{DASHBOARD}/export", data={"_csrf_token": token, "format": "sealed"}
    )


async def _setting(sessions: SessionFactory) -> bool:
    async with sessions() as session:
        return bool(await session.scalar(select(Campaign.four_eyes)))


async def _log(sessions: SessionFactory) -> list[tuple[str, str, dict[str, object]]]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.details).order_by(AuditEntry.id)
        )
    return [(actor, action, dict(details)) for actor, action, details in rows.all()]


@pytest.mark.usefixtures("claire")
async def test_by_default_a_sole_owner_s_sealed_export_waits_for_a_second_owner(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    assert await _setting(sessions)
    async with server.client() as browser:
        token = await _signed_in(browser, clock)
        page = await browser.get(f"{DASHBOARD}?lang=en")
        assert 'id="four-eyes-alone"' in page.text
        assert "until one is added, with the role “Owner”, on the Team page" in page.text
        assert "turn four-eyes approval off" in page.text  # she is its only organiser
        asked = await _export(browser, token)
        assert asked.status_code == 303 and "asked=1" in asked.headers["location"]
        async with sessions() as session:
            request = (await session.scalars(select(ExportRequest))).one()
        assert request.status == "pending"
        fetched = await browser.post(f"{DASHBOARD}/exports/{request.id}", data={
            "_csrf_token": token
        })  # fmt: skip
        assert fetched.status_code == 403  # no file without a second owner's approval
    assert [action for _, action, _ in await _log(sessions)] == ["export request"]


@pytest.mark.usefixtures("claire")
async def test_its_sole_owner_turns_it_off_exports_at_once_and_the_log_shows_the_change(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    async with server.client() as browser:
        token = await _signed_in(browser, clock)
        form = await browser.get(f"{DASHBOARD}/edit")
        assert 'name="four_eyes" value="on" checked' in form.text
        assert (await _edit(browser, token, four_eyes="off")).status_code == 303
        assert (
            'name="four_eyes" value="off" checked' in (await browser.get(f"{DASHBOARD}/edit")).text
        )
        page = await browser.get(f"{DASHBOARD}?lang=en")
        assert 'id="four-eyes-alone"' not in page.text
        assert "Four-eyes approval is off" in page.text
        log = await browser.get(f"{DASHBOARD}/audit?lang=en")
        assert "changed the four-eyes approval of sealed exports" in log.text
        assert "Before: on" in log.text and "After: off" in log.text
        exported = await _export(browser, token)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/json")
    assert not await _setting(sessions)
    assert await _log(sessions) == [
        ("Claire", "four eyes", {"before": "on", "after": "off"}),
        ("Claire", "edit", {}),
        ("Claire", "export", {"format": "sealed", "status": "confirmed"}),
    ]


async def test_turning_it_off_with_two_organisers_is_refused_and_changes_nothing(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    sealed: Campaign,
    claire: None,
    password_hash: str,
) -> None:
    await organiser_with_role(
        sessions, settings.load_secret_key(), sealed, Role.EDITOR, email="eve@collectif.org",
        name="Eve", password_hash=password_hash, now=clock(), totp_secret=TOTP,
    )  # fmt: skip
    async with server.client() as browser, server.client() as eve:
        token = await _signed_in(browser, clock)
        refused = await _edit(browser, token, title="Autre titre", four_eyes="off")
        assert refused.status_code == 422
        assert 'id="four_eyes-error"' in refused.text
        assert "a plus d’un·e organisateur·rice" in refused.text
        # An editor has no such field; a forged one is ignored, the rest is saved.
        forged = await _edit(
            eve, await _signed_in(eve, clock, "eve@collectif.org"), four_eyes="off"
        )
        assert forged.status_code == 303
    assert await _setting(sessions)
    async with sessions() as session:
        fresh = await session.get(Campaign, sealed.id)
    assert fresh is not None and fresh.title == "Mission de contrôle"  # Eve's, not Claire's
    assert [(actor, action) for actor, action, _ in await _log(sessions)] == [("Eve", "edit")]


@pytest.mark.usefixtures("claire")
async def test_adding_a_second_organiser_after_turning_it_off_makes_approval_required_again(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock, smtp: SmtpSink
) -> None:
    async with server.client() as browser:
        token = await _signed_in(browser, clock)
        assert (await _edit(browser, token, four_eyes="off")).status_code == 303
        added = await browser.post(f"{DASHBOARD}/team/add", data={
            "_csrf_token": token, "name": "Omar", "email": "omar@collectif.org", "role": "viewer",
        })  # fmt: skip
        assert added.status_code == 303
        await smtp.wait_for(1)  # Omar's invitation
        assert (
            'name="four_eyes" value="on" checked' in (await browser.get(f"{DASHBOARD}/edit")).text
        )
        asked = await _export(browser, token)
        assert asked.status_code == 303 and "asked=1" in asked.headers["location"]
    assert await _setting(sessions)
    assert [entry for entry in await _log(sessions) if entry[1] != "export request"] == [
        ("Claire", "four eyes", {"before": "on", "after": "off"}),
        ("Claire", "edit", {}),
        ("Claire", "add organiser", {"member": "Omar", "role": "viewer"}),
        ("Claire", "four eyes back on", {"before": "off", "after": "on"}),
    ]


@pytest.mark.usefixtures("claire")
async def test_the_privacy_notice_states_the_setting_and_gets_a_new_version_when_it_changes(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    approval = "needs the approval of a second organiser holding the owner role"
    alone = "is made by its sole organiser without a second approval"
    async with server.client() as reader:
        before = await reader.get(f"/c/{SLUG}/privacy?lang=en")
    assert "Version 1," in before.text and approval in before.text and alone not in before.text

    clock.advance(days=1)
    async with server.client() as browser:
        token = await _signed_in(browser, clock)
        assert (await _edit(browser, token, four_eyes="off")).status_code == 303
        assert (await _edit(browser, token, four_eyes="off")).status_code == 303  # no change
    async with server.client() as reader:
        latest = await reader.get(f"/c/{SLUG}/privacy?lang=en")
        first = await reader.get(f"/c/{SLUG}/privacy/1?lang=en")
        third = await reader.get(f"/c/{SLUG}/privacy/3?lang=en")
    assert "Version 2," in latest.text and alone in latest.text and approval not in latest.text
    assert "This version is no longer in force." in first.text and approval in first.text
    assert third.status_code == 404  # saving the same choice again wrote no version
    async with sessions() as session:
        versions = await session.execute(
            select(PrivacyNotice.version, PrivacyNotice.four_eyes).order_by(PrivacyNotice.version)
        )
    assert [tuple(row) for row in versions.all()] == [(1, True), (2, False)]
