"""Every dashboard route: for anonymous visitors, other campaigns' organisers, forged POSTs."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from petition import addressees, updates
from petition.app import create_app
from petition.db import SessionFactory
from petition.models import Addressee, Base, Campaign, Role, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import make_campaign
from tests.support.server import LiveServer

OWNER = "owner@collectif-sante.org"
OWNER_TOTP = pyotp.random_base32()
STRANGER = "stranger@autre-collectif.org"
_PARAM = re.compile(r"\{(\w+):\w+\}")


def _dashboard_routes(
    settings: Settings, clock: FakeClock, ids: dict[str, str]
) -> list[tuple[str, str]]:
    """(method, concrete path) of every route behind the organiser login."""
    values = {
        "slug": "mission-sante",
        "action": "close",
        "decision": "approve",
        "language": "en",
        **ids,
    }
    routes: list[tuple[str, str]] = []
    for route in create_app(settings, clock=clock).routes:
        if not route.path.startswith(("/dashboard", "/organiser/2fa")):
            continue
        path = _PARAM.sub(lambda m: values[m.group(1)], route.path)
        routes += [(method, path) for method in sorted(route.methods) if method in {"GET", "POST"}]
    assert len(routes) >= 15, routes  # the listing itself works
    return routes


@pytest.fixture
async def two_campaigns(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> dict[str, str]:
    """Path parameters of real rows: the owner as a team member, an addressee."""
    owner = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="Olga", password_hash=password_hash, now=clock(),
        totp_secret=OWNER_TOTP,  # so that the pages with names open too
    )  # fmt: skip
    other = await make_campaign(sessions, clock, slug="autre-campagne")
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), other, Role.OWNER,
        email=STRANGER, name="Sam", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=SignatureStatus.CONFIRMED, at=clock(), first_name="Ada"
    )
    async with sessions() as session, session.begin():
        row = addressees.Row("Madame", "Anne Morel", None, "CHU", "a@chu.example", (), ())
        await addressees.add_all(session, campaign.id, [row], clock())
        ident = await session.scalar(select(Addressee.id))
        # The same number names a campaign's news (their pages take the same parameter).
        news = await updates.draft(
            session, campaign, {"fr": updates.Text("Nouvelles", "Texte")}, None, clock()
        )
        assert news.id == ident
    return {"member_id": str(owner.id), "ident": str(ident)}


async def _snapshot(sessions: SessionFactory) -> dict[str, list[str]]:
    async with sessions() as session:
        return {
            table.name: sorted(
                repr(tuple(row)) for row in (await session.execute(select(table))).all()
            )
            for table in Base.metadata.sorted_tables
        }


async def test_anonymous_visitors_are_sent_to_the_login_page(
    server: LiveServer, settings: Settings, clock: FakeClock, two_campaigns: dict[str, str]
) -> None:
    async with server.client() as browser:
        token = (await browser.get("/organiser/login")).cookies.get("csrftoken") or ""
        for method, path in _dashboard_routes(settings, clock, two_campaigns):
            answer = await browser.request(
                method, path, data={"_csrf_token": token} if method == "POST" else None
            )
            assert (answer.status_code, answer.headers.get("location")) == (
                303,
                "/organiser/login",
            ), (method, path)


async def test_another_campaigns_organiser_reaches_nothing_of_it(
    server: LiveServer,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    two_campaigns: dict[str, str],
) -> None:
    before = await _snapshot(sessions)
    async with server.client() as sam:
        await login(sam, STRANGER, PASSWORD)
        token = sam.cookies.get("csrftoken") or ""
        for method, path in _dashboard_routes(settings, clock, two_campaigns):
            if "mission-sante" not in path:
                continue
            answer = await sam.request(
                method, path, data={"_csrf_token": token} if method == "POST" else None
            )
            assert answer.status_code == 404, (method, path, answer.status_code)
    after = await _snapshot(sessions)
    assert _without_sessions(before) == _without_sessions(after)


async def test_posts_without_csrf_are_refused_and_gets_change_nothing(
    server: LiveServer,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    two_campaigns: dict[str, str],
) -> None:
    async with server.client() as olga:
        await login(olga, OWNER, PASSWORD, pyotp.TOTP(OWNER_TOTP).at(clock()))
        before = await _snapshot(sessions)
        for method, path in _dashboard_routes(settings, clock, two_campaigns):
            if method == "POST":
                refused = await olga.post(path, data={"role": "viewer", "reason": "x", "id": "1"})
                assert refused.status_code == 403, path
            else:
                page = await olga.get(path)
                assert page.status_code in (200, 303), path
                # Names and figures of signers: never kept by a browser or a proxy.
                assert page.headers["cache-control"] == "no-store", path
        after = await _snapshot(sessions)
    assert before == after


def _without_sessions(snapshot: dict[str, list[str]]) -> dict[str, list[str]]:
    # Signing in creates a session row, and that is all it may change.
    return {k: v for k, v in snapshot.items() if k != "organiser_sessions"}


BOARD = "/dashboard/c/mission-sante"
SECTIONS = {
    "": "Overview",
    "/signatures": "Signatures",
    "/quarantine": "Quarantine",
    "/moderate": "Moderation",
    "/addressees": "Addressees",
    "/affiliations": "Affiliations",
    "/paper": "Paper signatures",
    "/texts": "Languages",
    "/official": "Official petition",
    "/milestones": "Milestones",
    "/updates": "News to signers",
    "/team": "Team",
    "/audit": "Audit",
}


async def test_every_campaign_page_names_its_section_in_one_navigation(
    server: LiveServer, clock: FakeClock, two_campaigns: dict[str, str]
) -> None:
    async with server.client() as olga:
        await login(olga, OWNER, PASSWORD, pyotp.TOTP(OWNER_TOTP).at(clock()))
        for suffix, label in SECTIONS.items():
            page = await olga.get(f"{BOARD}{suffix}?lang=en")
            assert page.status_code == 200, suffix
            [nav] = re.findall(r'<nav class="board-nav".*?</nav>', page.text, re.S)
            assert all(f'href="{BOARD}{other}"' in nav for other in SECTIONS)  # an owner's all
            [current] = re.findall(r'<a href="([^"]+)" aria-current="page">([^<]+)<', nav)
            assert current == (f"{BOARD}{suffix}", label)
            assert 'href="/dashboard"' in page.text  # and the way back to every campaign


async def test_team_and_audit_pages_are_for_owners_alone(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
    two_campaigns: dict[str, str],
) -> None:
    """As on the overview before them: other members neither see them nor reach them."""
    for role in (Role.EDITOR, Role.VIEWER):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=f"{role.value}@collectif-sante.org", name=role.value,
            password_hash=password_hash, now=clock(),
        )  # fmt: skip
        async with server.client() as member:
            await login(member, f"{role.value}@collectif-sante.org", PASSWORD)
            overview = await member.get(BOARD)
            assert overview.status_code == 200
            for suffix in ("/team", "/audit"):
                assert f'href="{BOARD}{suffix}"' not in overview.text, (role, suffix)
                assert (await member.get(f"{BOARD}{suffix}")).status_code == 403, (role, suffix)
            shown = f'href="{BOARD}/signatures"' in overview.text
            assert shown is (role is Role.EDITOR)  # a viewer has no names to look at
    async with server.client() as sam:  # an organiser of another campaign only
        await login(sam, STRANGER, PASSWORD)
        for suffix in ("/team", "/audit"):
            assert (await sam.get(f"{BOARD}{suffix}")).status_code == 404
