"""What a visitor sees first: the campaign page decided in seconds, the campaigns as cards, a
campaign's own language marked, and a failed form opening at its errors."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from petition.campaigns import CampaignFileError, parse_campaign_file
from petition.db import SessionFactory
from petition.models import Campaign
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, hidden_fields, make_campaign
from tests.support.server import LiveServer

SLUG = "mission-sante"


def position(page: str, needle: str) -> int:
    at = page.find(needle)
    assert at >= 0, needle
    return at


@pytest.mark.usefixtures("campaign")
async def test_the_count_progress_and_sign_button_come_before_the_text(server: LiveServer) -> None:
    async with server.client() as browser:
        page = (await browser.get(f"/c/{SLUG}")).text
    # Title, count, progress toward the goal, then the call to sign, then the text and form.
    order = [
        position(page, "<h1"),
        position(page, "data-live-count"),
        position(page, "<progress"),
        position(page, 'class="button large" href="#sign"'),
        position(page, "mission de contrôle</strong>"),
        position(page, '<section class="sign" id="sign"'),
    ]
    assert order == sorted(order)


@pytest.mark.usefixtures("campaign")
async def test_a_failed_submission_opens_at_its_errors_with_or_without_javascript(
    server: LiveServer,
) -> None:
    async with server.client() as browser:
        page = await browser.get(f"/c/{SLUG}")
        # The form is sent to #sign: the answer, when it has errors, opens there by itself.
        assert re.search(rf'<form method="post" action="/c/{SLUG}#sign"', page.text)
        assert "form.js" not in page.text
        failed = await browser.post(
            f"/c/{SLUG}",
            data={**hidden_fields(page), "_csrf_token": csrf_of(page), "first_name": "Marie"},
        )
    assert failed.status_code == 422
    text = failed.text
    # #sign is now the summary itself, focusable: the browser scrolls there and focuses it.
    assert text.count('id="sign"') == 1
    summary = position(text, 'class="error-summary" id="sign" role="alert" tabindex="-1"')
    assert position(text, '<section class="sign"') < summary < position(text, 'id="first_name"')
    # With JavaScript, focus moves to the summary (our script, from our origin).
    assert re.search(r'<script src="/static/form\.[0-9a-f]{12}\.js" defer></script>', text)
    # Each error links to its field.
    assert 'href="#last_name"' in text and 'href="#email"' in text


async def test_the_home_page_shows_open_campaigns_as_cards_and_closed_ones_apart(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    today = clock().date()
    await make_campaign(sessions, clock, slug="ouverte", closes=today + timedelta(days=30))
    await make_campaign(sessions, clock, slug="close", closes=today + timedelta(days=1))
    clock.advance(days=3)
    await make_campaign(sessions, clock, slug="nouvelle")
    async with server.client() as browser:
        home = (await browser.get("/")).text
    closed_at = position(home, 'id="closed-title"')
    for slug in ("ouverte", "nouvelle"):
        assert position(home, f'href="/c/{slug}"') < closed_at
    assert position(home, 'href="/c/close"') > closed_at
    # Each card: title, excerpt of the text, count; the open ones their goal and deadline.
    assert home.count('class="campaign-card"') == 2
    assert home.count('class="campaign-card closed"') == 1
    assert home.count("Nous demandons une mission de contrôle.") == 3
    assert home.count("Ouverte jusqu’au") == 1 and "Close le" in home
    assert re.search(r'<meta name="description" content="[^"]{40,}">', home)


async def test_a_text_in_another_language_than_the_page_carries_its_own(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    campaign = await make_campaign(sessions, clock, slug="letter-en")
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign).where(Campaign.id == campaign.id).values(language="en")
        )
    await server.services.hub.reread(frozenset({campaign.id}))
    async with server.client() as browser:
        french = (await browser.get("/c/letter-en")).text
        english = (await browser.get("/c/letter-en?lang=en")).text
        home = (await browser.get("/?lang=fr")).text
        privacy = (await browser.get("/c/letter-en/privacy")).text
    assert '<html lang="fr">' in french
    assert re.search(r'<h1 lang="en">', french) and '<div class="text" lang="en">' in french
    assert '<html lang="en">' in english
    assert "<h1>" in english and 'class="text" lang' not in english
    assert '<article class="campaign-card" lang="en">' in home
    assert '<span lang="en">Pour une mission' in privacy


async def test_pages_people_find_by_search_describe_themselves(
    server: LiveServer, campaign: Campaign
) -> None:
    async with server.client() as browser:
        for path in ("/", f"/c/{SLUG}", f"/c/{SLUG}/signatories", f"/c/{SLUG}/privacy"):
            page = (await browser.get(path)).text
            descriptions = re.findall(r'<meta name="description" content="([^"]*)">', page)
            assert len(descriptions) == 1 and len(descriptions[0]) > 30, path


def test_the_campaign_language_is_chosen_in_its_file() -> None:
    text = "---\nslug: open-letter\ntitle: An open letter\nlanguage: en\n---\nWe ask.\n"
    assert parse_campaign_file(text).language == "en"
    assert parse_campaign_file(text.replace("language: en\n", "")).language == "fr"
    with pytest.raises(CampaignFileError, match="language"):
        parse_campaign_file(text.replace("language: en", "language: de"))
