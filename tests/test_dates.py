"""Dates in one style per language: « 1er décembre 2026 » and "1 December 2026", everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from petition import dates, templating
from petition.db import SessionFactory
from petition.models import Campaign
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, make_campaign, press, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

PARIS = "Europe/Paris"


@pytest.mark.parametrize(
    ("day", "french"),
    [
        (date(2026, 12, 1), "1er décembre 2026"),
        (date(2027, 1, 1), "1er janvier 2027"),
        (date(2026, 12, 2), "2 décembre 2026"),
        (date(2026, 12, 11), "11 décembre 2026"),
        (date(2026, 12, 21), "21 décembre 2026"),
        (date(2026, 12, 31), "31 décembre 2026"),
    ],
)
def test_french_writes_the_first_of_the_month_as_an_ordinal_and_no_other_day(
    day: date, french: str
) -> None:
    assert dates.long_date(day, "fr") == french


@pytest.mark.parametrize(
    ("day", "english"),
    [
        (date(2026, 12, 1), "1 December 2026"),
        (date(2026, 12, 2), "2 December 2026"),
        (date(2026, 12, 31), "31 December 2026"),
    ],
)
def test_english_puts_the_day_before_the_month_with_no_ordinal(day: date, english: str) -> None:
    assert dates.long_date(day, "en") == english


def test_a_time_follows_the_day_after_a_comma_in_the_site_time_zone() -> None:
    moment = datetime(2026, 12, 1, 13, 5, 42, tzinfo=UTC)  # 14:05 in Paris, in winter
    assert dates.long_datetime(moment, "fr", PARIS) == "1er décembre 2026, 14:05"
    assert dates.long_datetime(moment, "en", PARIS) == "1 December 2026, 14:05"
    assert dates.long_datetime(moment.replace(day=2), "fr", PARIS) == "2 décembre 2026, 14:05"


def test_the_day_of_an_instant_is_the_day_in_the_site_time_zone() -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # already 1 December in Paris
    assert dates.long_date(late, "fr", PARIS) == "1er décembre 2026"
    assert dates.long_date(late, "en", "UTC") == "30 November 2026"
    naive = datetime(2026, 11, 30, 23, 30)  # as a database without time zones keeps it: UTC
    assert dates.long_datetime(naive, "fr", PARIS) == "1er décembre 2026, 00:30"


def test_one_instant_in_two_zones_is_not_mistaken_for_the_other_by_the_cache() -> None:
    moment = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert dates.long_datetime(moment, "en", PARIS) == "1 December 2026, 12:00"
    assert dates.long_datetime(moment, "en", "UTC") == "1 December 2026, 11:00"


def test_the_template_filters_say_dates_the_same_way() -> None:
    env = templating.page_environment()
    shown = env.from_string("{{ d|date(tz) }} / {{ d|datetime(tz) }} / {{ c|closing_day(tz) }}")
    moment = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    closes = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # midnight in Paris after 1 December
    values = {"d": moment, "c": closes, "tz": PARIS}
    assert shown.render(locale="fr", **values) == (
        "1er décembre 2026 / 1er décembre 2026, 09:30 / 1er décembre 2026"
    )
    assert shown.render(locale="en", **values) == (
        "1 December 2026 / 1 December 2026, 09:30 / 1 December 2026"
    )


async def test_a_campaign_closing_on_the_first_says_so_in_each_language(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock, slug="premier", closes=date(2099, 12, 1))
    async with server.client() as browser:
        french = await browser.get("/c/premier")
        english = await browser.get("/c/premier", params={"lang": "en"})
    assert "1er décembre 2099" in french.text
    assert "1 December 2099" in english.text
    assert "December 1" not in english.text


KIT = "Je m’oppose au transfert de mes données.\n\nFait le {date}."


async def test_the_confirmation_mail_and_the_action_kit_say_the_first_of_the_month(
    server: LiveServer, sessions: SessionFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    clock.now = datetime(2099, 11, 24, 12, 0, tzinfo=UTC)  # links last 7 days: to 1 December
    campaign = await make_campaign(sessions, clock)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(kit_title="Opposition", kit_subject="Opposition", kit_body=KIT)
        )
    async with server.client() as browser:
        assert (await sign(browser, campaign.slug, signer())).status_code == 303
        [mail] = await smtp.wait_for(1)
        for part in ("plain", "html"):
            body = mail.get_body((part,))
            assert body is not None
            assert "1er décembre 2099, 13:00" in body.get_content()
        clock.now = datetime(2099, 12, 1, 9, 0, tzinfo=UTC)
        page = await browser.get((await press(browser, link(mail, "confirm"))).headers["location"])
        form = {"_csrf_token": csrf_of(page), "first_name": "Zoé", "last_name": "Kit"}
        french = await browser.post(f"/c/{campaign.slug}/kit", data={**form, "format": "text"})
        english = await browser.post(
            f"/c/{campaign.slug}/kit", params={"lang": "en"}, data={**form, "format": "text"}
        )
    assert "Fait le 1er décembre 2099." in french.text
    assert "Fait le 1 December 2099." in english.text
