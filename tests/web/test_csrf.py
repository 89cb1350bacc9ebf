"""Forged requests change nothing: a token on every form, whatever the path, and nothing that
another site's page sends is taken, token or not."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import Campaign, CampaignOrganiser, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, make_campaign
from tests.support.server import LiveServer

OWNER = "owner@collectif-sante.org"
ATTACKER = "attacker@evil.example"


async def _owned(
    sessions: SessionFactory, settings: Settings, clock: FakeClock, password_hash: str, slug: str
) -> Campaign:
    campaign = await make_campaign(sessions, clock, slug=slug)
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="Olga", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    return campaign


async def _still_open_with_one_organiser(sessions: SessionFactory, campaign: Campaign) -> None:
    async with sessions() as session:
        row = await session.get(Campaign, campaign.id)
        team = (
            await session.execute(
                select(CampaignOrganiser).where(CampaignOrganiser.campaign_id == campaign.id)
            )
        ).all()
    assert row is not None and row.closes_at is None
    assert len(team) == 1


@pytest.mark.parametrize("slug", ["static-sante", "healthz-collectif", "api", "static"])
async def test_a_slug_that_looks_like_a_public_path_keeps_the_token_check(
    slug: str,
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
) -> None:
    """With only the owner's session cookie, a forged form closes nothing and adds no one."""
    campaign = await _owned(sessions, settings, clock, password_hash, slug)
    async with server.client() as olga:
        assert (await login(olga, OWNER, PASSWORD)).status_code == 303
        closed = await olga.post(f"/dashboard/c/{slug}/close", data={})
        added = await olga.post(
            f"/dashboard/c/{slug}/team/add",
            data={"email": ATTACKER, "name": "Mallory", "role": "owner"},
        )
    assert (closed.status_code, added.status_code) == (403, 403)
    await _still_open_with_one_organiser(sessions, campaign)


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another party's site too
    {"Origin": "https://evil.example"},
    {"Origin": "http://petition.test.evil.example"},
]
OWN_SITE = [
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},  # typed in the address bar: no other site involved
    {"Origin": "http://petition.test"},  # the configured public address
    {"Origin": "null"},  # what browsers send from our pages that ask for no Referer
    {},  # an old browser, or a script of the organisers' own: the token decides
]


@pytest.mark.parametrize(
    ("headers", "taken"),
    [(h, False) for h in CROSS_SITE] + [(h, True) for h in OWN_SITE],
    ids=lambda h: "-".join(h.values()) or "none" if isinstance(h, dict) else str(h),
)
async def test_a_valid_token_is_taken_only_from_our_own_pages(
    headers: dict[str, str],
    taken: bool,
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
) -> None:
    campaign = await _owned(sessions, settings, clock, password_hash, "mission-sante")
    async with server.client() as olga:
        await login(olga, OWNER, PASSWORD)
        token = csrf_of(await olga.get("/dashboard/c/mission-sante"))
        answer = await olga.post(
            "/dashboard/c/mission-sante/close", data={"_csrf_token": token}, headers=headers
        )
    if not taken:
        assert answer.status_code == 403
        await _still_open_with_one_organiser(sessions, campaign)
        return
    assert answer.status_code == 303
    async with sessions() as session:
        row = await session.get(Campaign, campaign.id)
    assert row is not None and row.closes_at is not None


async def test_the_origin_of_the_host_asked_is_our_own(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Tried first at http://localhost:8000 while the public address says otherwise: the form
    comes back from the host the browser asked, which no other site can choose."""
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        page = await browser.get("/c/mission-sante")
        host = httpx.URL(server.base_url).netloc.decode()
        answer = await browser.post(
            "/c/mission-sante",
            data={"_csrf_token": csrf_of(page), "first_name": ""},
            headers={"Origin": f"http://{host}"},
        )
    assert answer.status_code == 422  # past the CSRF check, into the form's own errors


@pytest.mark.parametrize(
    "token",
    ["é" * 65, "a" * 64 + "é" * 64, "x" * 129, "", "💥" * 200],
    ids=["non-ascii", "non-ascii-mac", "too-long", "empty", "emoji"],
)
async def test_a_malformed_token_is_a_refusal_not_an_error(
    token: str, server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        await browser.get("/c/mission-sante")  # the cookie
        in_form = await browser.post("/c/mission-sante", data={"_csrf_token": token})
        in_header = await browser.post(
            "/c/mission-sante", data={}, headers={b"X-CSRFToken": token.encode()}
        )
        as_file = await browser.post(
            "/c/mission-sante", files={"_csrf_token": ("token.txt", token.encode(), "text/plain")}
        )
    assert (in_form.status_code, in_header.status_code, as_file.status_code) == (403, 403, 403)


async def test_a_malformed_csrf_cookie_is_a_refusal_not_an_error(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock)
    async with server.client() as browser, server.client() as forger:
        token = csrf_of(await browser.get("/c/mission-sante"))
        answer = await forger.post(
            "/c/mission-sante",
            data={"_csrf_token": token},
            headers={b"Cookie": b"csrftoken=" + "\u00e9".encode() * 130},
        )
    assert answer.status_code == 403


async def test_signing_in_gives_the_browser_a_new_csrf_token(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
) -> None:
    """A token planted in the browser before login (a shared computer) is void after it."""
    await _owned(sessions, settings, clock, password_hash, "mission-sante")
    async with server.client() as olga:
        before = csrf_of(await olga.get("/organiser/login"))
        planted = olga.cookies["csrftoken"]
        signed_in = await login(olga, OWNER, PASSWORD)
        after = olga.cookies["csrftoken"]
        stale = await olga.post("/dashboard/c/mission-sante/close", data={"_csrf_token": before})
        fresh = csrf_of(await olga.get("/dashboard/c/mission-sante"))
    assert signed_in.status_code == 303
    assert after != planted
    assert stale.status_code == 403
    assert fresh != before
