"""Organisers create, edit, close and reopen campaigns from the dashboard."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from petition import sealing
from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, sign, signer
from tests.support.server import LiveServer

OWNER = "owner@collectif-sante.org"
VIEWER = "viewer@collectif-sante.org"
TEXT = "Nous demandons **une mission de contrôle**."
# The creator's public key, as the campaign form's key maker fills it in (or as pasted).
PUBLIC_KEY = sealing.encode_public(sealing.new_key_pair()[0])


@pytest.fixture
async def team(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    for email, role in ((OWNER, Role.OWNER), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip


async def _post(browser: httpx.AsyncClient, path: str, fields: dict[str, str]) -> httpx.Response:
    token = csrf_of(await browser.get("/organiser/login"))
    return await browser.post(path, data={"_csrf_token": token, **fields})


def _campaign_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "title": "Lettre aux directeurs",
        "slug": "lettre-directeurs",
        "kind": "letter",
        "body": TEXT,
        "goal": "500",
        "public_key": PUBLIC_KEY,
    }
    fields.update(overrides)
    return fields


@pytest.mark.usefixtures("team")
async def test_create_with_errors_then_preview_then_save(
    server: LiveServer, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await login(browser, VIEWER, PASSWORD)  # any organiser may start a campaign
        form = await browser.get("/dashboard/new")
        assert "Votre clé de lecture" in form.text  # they have none: the form makes or takes one
        assert re.search(r"/static/keys\.[0-9a-f]{12}\.js", form.text)
        bad = await _post(
            browser,
            "/dashboard/new",
            _campaign_fields(title="", slug="Pas Bon", goal="-3", public_key=""),
        )
        assert bad.status_code == 422
        for field in ("title", "slug", "goal", "public_key"):
            assert f'id="{field}-error"' in bad.text
        assert "scellée dès sa création" in bad.text
        wrong = await _post(browser, "/dashboard/new", _campaign_fields(public_key="n'importe"))
        assert wrong.status_code == 422 and 'id="public_key-error"' in wrong.text
        taken = await _post(browser, "/dashboard/new", _campaign_fields(slug="mission-sante"))
        assert taken.status_code == 422 and 'id="slug-error"' in taken.text

        preview = await _post(browser, "/dashboard/new", {**_campaign_fields(), "preview": "1"})
        assert preview.status_code == 200
        assert "<strong>une mission de contrôle</strong>" in preview.text
        assert (await browser.get("/c/lettre-directeurs")).status_code == 404  # nothing saved yet

        saved = await _post(browser, "/dashboard/new", _campaign_fields())
        assert (
            saved.status_code == 303
            and saved.headers["location"] == "/dashboard/c/lettre-directeurs"
        )
        public = await browser.get("/c/lettre-directeurs")
        assert public.status_code == 200 and "Lettre aux directeurs" in public.text
        board = await browser.get("/dashboard")
        assert "Lettre aux directeurs" in board.text and "Propriétaire" in board.text
        again = await browser.get("/dashboard/new")
        assert "Votre clé de lecture" not in again.text  # their key serves for the next ones
    async with sessions() as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
        created = await session.scalar(select(Campaign).where(Campaign.slug == "lettre-directeurs"))
    assert actions == ["create"]
    # Sealed from its creation, to the key given with the form.
    assert created is not None and created.sealed


@pytest.mark.usefixtures("team")
async def test_edit_changes_the_public_page_but_never_the_address(
    server: LiveServer, clock: FakeClock
) -> None:
    last_day = (clock().date() + timedelta(days=30)).isoformat()
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD)
        form = await browser.get("/dashboard/c/mission-sante/edit")
        assert form.status_code == 200 and "Nous demandons" in form.text
        fields = _campaign_fields(
            title="Titre corrigé",
            slug="ignored",
            closes=last_day,
            require_organisation="yes",
            grouping="role",
            kit_title="Votre opposition",
            kit_subject="Opposition — {last_name}",
            kit_body="Je soussigné(e) {first_name} {last_name}…",
            kit_email="dpo@caisse.example",
        )
        assert (await _post(browser, "/dashboard/c/mission-sante/edit", fields)).status_code == 303
        public = await browser.get("/c/mission-sante")
        assert "Titre corrigé" in public.text
        assert 'id="organisation"' in public.text and "(obligatoire)" in public.text
        again = await browser.get("/dashboard/c/mission-sante/edit")
        assert f'value="{last_day}"' in again.text  # the last day, as typed
        assert 'id="grouping-role" name="grouping" value="role" checked' in again.text
        assert 'value="Votre opposition"' in again.text and "dpo@caisse.example" in again.text
        half_kit = await _post(
            browser, "/dashboard/c/mission-sante/edit", _campaign_fields(kit_title="Sans texte")
        )
        assert half_kit.status_code == 422 and 'id="kit_body-error"' in half_kit.text
        wrong = await _post(
            browser, "/dashboard/c/mission-sante/edit", _campaign_fields(grouping="age")
        )
        assert wrong.status_code == 422 and "Choisissez comment regrouper" in wrong.text
        assert (await browser.get("/c/ignored")).status_code == 404

    async with server.client() as viewer:
        await login(viewer, VIEWER, PASSWORD)
        assert (await viewer.get("/dashboard/c/mission-sante/edit")).status_code == 403
        refused = await _post(
            viewer, "/dashboard/c/mission-sante/edit", _campaign_fields(title="Pirate")
        )
        assert refused.status_code == 403


@pytest.mark.usefixtures("team")
async def test_close_now_and_reopen(server: LiveServer) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD)
        assert (await _post(browser, "/dashboard/c/mission-sante/close", {})).status_code == 303
        closed = await browser.get("/c/mission-sante")
        assert 'action="/c/mission-sante#sign"' not in closed.text
        assert (await _post(browser, "/c/mission-sante", signer())).status_code == 410

        assert (await _post(browser, "/dashboard/c/mission-sante/reopen", {})).status_code == 303
        assert 'action="/c/mission-sante#sign"' in (await browser.get("/c/mission-sante")).text


@pytest.mark.usefixtures("team")
async def test_a_campaign_opening_later_takes_no_signature_yet(
    server: LiveServer, clock: FakeClock
) -> None:
    opens = (clock().date() + timedelta(days=2)).isoformat()
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD)
        await _post(browser, "/dashboard/new", _campaign_fields(opens=opens))
        page = await browser.get("/c/lettre-directeurs")
        assert "Les signatures ouvrent le" in page.text
        assert (await _post(browser, "/c/lettre-directeurs", signer())).status_code == 410
        clock.advance(days=3)
        assert (await sign(browser, "lettre-directeurs", signer())).status_code == 303
