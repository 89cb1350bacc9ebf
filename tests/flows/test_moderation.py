"""Editors find abuse, invalidate it one by one or by a rule, and can undo it; counts follow."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, Role, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, displayed_count, link, press, sign, signer
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

EDITOR = "editrice@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
SLUG = "mission-sante"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Editors here sign in with a password only: that names need a second factor by default
    is tested in tests/flows/test_two_factor.py; here, what editors do with them."""
    return dataclasses.replace(settings, exports_require_2fa=False)


@pytest.fixture
async def signed(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    secret = settings.load_secret_key()
    for email, role in ((EDITOR, Role.EDITOR), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, secret, campaign, role,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip
    confirmed = SignatureStatus.CONFIRMED
    for n in range(3):
        await factories.signature(
            sessions, campaign, status=confirmed, at=clock() - timedelta(minutes=n),
            first_name=f"Bot{n}", last_name="Spam", organisation="Spam Inc",
            email=f"bot{n}@spam.example",
        )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=confirmed, at=clock(), first_name="Ada", last_name="Lovelace",
        email="ada@chu-lyon.fr",
    )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=SignatureStatus.PENDING, at=clock(),
        first_name="Bot9", last_name="Spam", organisation="spam inc", email="bot9@spam.example",
    )  # fmt: skip


async def _token(browser: httpx.AsyncClient) -> str:
    return csrf_of(await browser.get("/organiser/login"))


@pytest.mark.usefixtures("signed")
async def test_invalidate_one_then_restore_it(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        found = await browser.get(f"/dashboard/c/{SLUG}/signatures", params={"q": "lovel"})
        assert "Ada Lovelace" in found.text and "Bot0" not in found.text
        tomorrow = (clock().date() + timedelta(days=1)).isoformat()
        none_yet = await browser.get(f"/dashboard/c/{SLUG}/signatures", params={"since": tomorrow})
        assert "Ada Lovelace" not in none_yet.text
        ada = found.text.split('name="id" value="')[1].split('"')[0]
        base = f"/dashboard/c/{SLUG}/signatures"

        no_reason = await browser.post(
            f"{base}/invalidate", data={"_csrf_token": await _token(browser), "id": ada}
        )
        assert no_reason.status_code == 400
        assert await displayed_count(browser, SLUG) == 4

        form = {"_csrf_token": await _token(browser), "id": ada, "reason": "doublon"}
        assert (await browser.post(f"{base}/invalidate", data=form)).status_code == 303
        assert await displayed_count(browser, SLUG) == 3
        listed = await browser.get(base, params={"status": "invalidated"})
        assert "Ada Lovelace" in listed.text and "doublon" in listed.text

        form = {"_csrf_token": await _token(browser), "id": ada}
        assert (await browser.post(f"{base}/restore", data=form)).status_code == 303
        assert await displayed_count(browser, SLUG) == 4

    async with sessions() as session:
        entries = (
            (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
        )
    assert [(e.action, e.rows, e.actor) for e in entries] == [
        ("invalidate", 1, "editrice"),
        ("restore", 1, "editrice"),
    ]


@pytest.mark.usefixtures("signed")
@pytest.mark.parametrize(
    ("rule", "matched", "count_after"),
    [
        ({"organisation": "SPAM INC"}, 4, 1),  # three confirmed and one pending, any case
        ({"email_domain": "spam.example"}, 4, 1),
        ({"name": "bot"}, 4, 1),
        ({"email_domain": "chu-lyon.fr"}, 1, 3),
    ],
)
async def test_rule_preview_matches_what_is_then_invalidated(
    server: LiveServer,
    sessions: SessionFactory,
    rule: dict[str, str],
    matched: int,
    count_after: int,
) -> None:
    async with server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        preview = await browser.get(f"/dashboard/c/{SLUG}/moderate", params=rule)
        assert f'data-matched="{matched}"' in preview.text
        assert await displayed_count(browser, SLUG) == 4  # a preview changes nothing
        form = {"_csrf_token": csrf_of(preview), **rule, "reason": "campagne de robots"}
        assert (await browser.post(f"/dashboard/c/{SLUG}/moderate", data=form)).status_code == 303
        assert await displayed_count(browser, SLUG) == count_after
    async with sessions() as session:
        [entry] = (await session.execute(select(AuditEntry))).scalars().all()
    assert entry.rows == matched and entry.details["reason"] == "campagne de robots"


@pytest.mark.usefixtures("signed")
async def test_viewers_and_forged_posts_change_nothing(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as viewer:
        await login(viewer, VIEWER, PASSWORD)
        assert (await viewer.get(f"/dashboard/c/{SLUG}/signatures")).status_code == 403
        assert (await viewer.get(f"/dashboard/c/{SLUG}/moderate")).status_code == 403
        form = {"_csrf_token": await _token(viewer), "organisation": "Spam Inc", "reason": "x"}
        assert (await viewer.post(f"/dashboard/c/{SLUG}/moderate", data=form)).status_code == 403
    async with server.client() as editor:
        await login(editor, EDITOR, PASSWORD)
        forged = await editor.post(
            f"/dashboard/c/{SLUG}/moderate", data={"organisation": "Spam Inc", "reason": "x"}
        )
        assert forged.status_code == 403
        everything = await editor.post(
            f"/dashboard/c/{SLUG}/moderate",
            data={"_csrf_token": await _token(editor), "reason": "x"},
        )
        assert everything.status_code == 400  # an empty rule would match everyone: refused
        assert await displayed_count(editor, SLUG) == 4


async def test_withdrawing_an_invalidated_signature_does_not_uncount_it_twice(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    async with server.client() as browser:
        await sign(browser, SLUG, signer("troll@spam.example"))
        [mail] = await smtp.wait_for(1)
        await press(browser, link(mail, "confirm"))
        assert await displayed_count(browser, SLUG) == 1
        await login(browser, EDITOR, PASSWORD)
        form = {"_csrf_token": await _token(browser), "email_domain": "spam.example", "reason": "x"}
        await browser.post(f"/dashboard/c/{SLUG}/moderate", data=form)
        assert await displayed_count(browser, SLUG) == 0
        await press(browser, link(mail, "withdraw"))
        assert await displayed_count(browser, SLUG) == 0


@pytest.mark.usefixtures("signed")
async def test_a_viewer_watches_progress_without_seeing_names(server: LiveServer) -> None:
    async with server.client() as viewer:
        await login(viewer, VIEWER, PASSWORD)
        page = await viewer.get(f"/dashboard/c/{SLUG}")
    assert page.status_code == 200
    assert 'data-conversion="4/5"' in page.text  # 4 confirmed of 5 submitted
    assert page.text.count("<svg") == 2 and "<script" not in page.text
    assert "Spam Inc" in page.text  # organisations are aggregates, not names
    assert "Lovelace" not in page.text and "Bot0" not in page.text


async def test_exports_follow_moderation(
    settings: Settings, sessions: SessionFactory, clock: FakeClock, signed: None
) -> None:
    without_2fa = dataclasses.replace(settings, exports_require_2fa=False)
    async with serve(without_2fa, clock) as server, server.client() as editor:
        await login(editor, EDITOR, PASSWORD)
        form = {"_csrf_token": await _token(editor), "organisation": "spam inc", "reason": "robots"}
        await editor.post(f"/dashboard/c/{SLUG}/moderate", data=form)
        exported = await editor.post(
            f"/dashboard/c/{SLUG}/export",
            data={"_csrf_token": await _token(editor), "format": "json"},
        )
    assert [p["last_name"] for p in json.loads(exported.content)] == ["Lovelace"]
