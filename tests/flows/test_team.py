"""An owner invites organisers by mail and changes their roles; a campaign keeps an owner."""

from __future__ import annotations

import re
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, OutboxMail, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, make_campaign
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

OWNER = "owner@collectif-sante.org"
NEWCOMER = "nouvelle@collectif-sante.org"
BOARD = "/dashboard/c/mission-sante"


@pytest.fixture
async def owner(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="Olga", password_hash=password_hash, now=clock(),
    )  # fmt: skip


async def _post(browser: httpx.AsyncClient, path: str, fields: dict[str, str]) -> httpx.Response:
    token = csrf_of(await browser.get("/organiser/login"))
    return await browser.post(path, data={"_csrf_token": token, **fields})


@pytest.mark.usefixtures("owner")
async def test_owner_invites_a_newcomer_who_joins_with_the_given_role(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as olga:
        await login(olga, OWNER, PASSWORD)
        added = await _post(
            olga, f"{BOARD}/team/add", {"name": "Nina", "email": NEWCOMER, "role": "viewer"}
        )
        assert (added.status_code, added.headers["location"]) == (303, f"{BOARD}/team")
        page = await olga.get(f"{BOARD}/team")
        assert "Nina" in page.text
    [mail] = await smtp.wait_for(1)
    assert mail["To"] == NEWCOMER and "Olga" in str(mail.get_body(("plain",)))
    body = mail.get_body(("plain",))
    assert body is not None
    link = re.search(r"(/organiser/password/\S+)", body.get_content())
    assert link
    async with server.client() as nina:
        page = await nina.get(link.group(1))
        form = {
            "_csrf_token": csrf_of(page),
            "password": "nina choisit sa phrase",
            "password_again": "nina choisit sa phrase",
        }
        assert (await nina.post(link.group(1), data=form)).status_code == 303
        assert (await login(nina, NEWCOMER, "nina choisit sa phrase")).status_code == 303
        assert (await nina.get(BOARD)).status_code == 200
        assert (await nina.get(f"{BOARD}/signatures")).status_code == 403  # a viewer sees no names
    async with sessions() as session:
        outbox = (await session.execute(select(OutboxMail))).scalars().all()
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert all(m.to_address is None for m in outbox)  # the typed address left with the mail
    assert actions == ["add organiser"]


@pytest.mark.usefixtures("owner")
async def test_roles_change_and_the_last_owner_stays(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    editor = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email="ed@collectif-sante.org", name="Ed", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    async with server.client() as olga:
        await login(olga, OWNER, PASSWORD)
        board = await olga.get(f"{BOARD}/team")
        olga_id = re.findall(r'/team/(\d+)"', board.text)
        own_id = next(i for i in olga_id if int(i) != editor.id)
        refused = await _post(olga, f"{BOARD}/team/{own_id}", {"role": "viewer"})
        assert refused.headers["location"] == f"{BOARD}/team?problem=last-owner"
        explained = await olga.get(refused.headers["location"])
        assert "garde au moins un propriétaire" in explained.text
        promoted = await _post(olga, f"{BOARD}/team/{editor.id}", {"role": "owner"})
        assert (promoted.status_code, promoted.headers["location"]) == (303, f"{BOARD}/team")
        gone = await _post(olga, f"{BOARD}/team/{own_id}", {"role": "none"})
        assert (gone.status_code, gone.headers["location"]) == (303, "/dashboard")
        assert (await olga.get(BOARD)).status_code == 404  # no longer hers to see
    async with server.client() as ed:
        await login(ed, "ed@collectif-sante.org", PASSWORD)
        assert "Propriétaire" in (await ed.get("/dashboard")).text


async def test_an_invitation_to_a_second_campaign_leaves_the_first_link_working(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    """Two owners invite Nina the same day: whichever mail she opens works; once she has
    chosen her password, the other link has served its turn."""
    other = await make_campaign(sessions, clock, slug="lettre-directeurs")
    for target, email in ((campaign, OWNER), (other, "owner2@collectif-sante.org")):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), target, Role.OWNER,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip
    for slug, email in (
        ("mission-sante", OWNER),
        ("lettre-directeurs", "owner2@collectif-sante.org"),
    ):
        async with server.client() as owner:
            await login(owner, email, PASSWORD)
            fields = {"name": "Nina", "email": NEWCOMER, "role": "viewer"}
            assert (await _post(owner, f"/dashboard/c/{slug}/team/add", fields)).status_code == 303
    first, second = (_password_link(m) for m in await smtp.wait_for(2))
    async with server.client() as nina:
        assert (await nina.get(first)).status_code == 200
        page = await nina.get(second)
        assert page.status_code == 200
        form = {
            "_csrf_token": csrf_of(page),
            "password": "nina choisit sa phrase",
            "password_again": "nina choisit sa phrase",
        }
        assert (await nina.post(second, data=form)).status_code == 303
        assert (await nina.get(first)).status_code in (404, 410)
        assert (await login(nina, NEWCOMER, "nina choisit sa phrase")).status_code == 303
        dashboard = await nina.get("/dashboard")
    assert "mission-sante" in dashboard.text and "lettre-directeurs" in dashboard.text


def _password_link(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"(/organiser/password/\S+)", body.get_content())
    assert found
    return found.group(1)
