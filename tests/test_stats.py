"""Dashboard statistics: local days and hours across time zones and DST, top roles and
organisations, conversion. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from petition import stats
from petition.db import SessionFactory
from petition.models import Campaign, Signature, SignatureStatus
from tests.support import factories
from tests.support.clock import FakeClock
from tests.support.journey import make_campaign

PARIS = ZoneInfo("Europe/Paris")
_unique = itertools.count()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def add(
    sessions: SessionFactory,
    campaign: Campaign,
    at: datetime,
    status: SignatureStatus = SignatureStatus.CONFIRMED,
    *,
    role: str | None = "Médecin",
    organisation: str | None = "CHU de Lyon",
) -> Signature:
    """A signature confirmed at `at` (or only submitted then, if pending), with its own address."""
    email = f"s{next(_unique)}@example.org"
    return await factories.signature(
        sessions, campaign, status=status, at=at, email=email, role=role, organisation=organisation
    )


async def confirmed_then(
    sessions: SessionFactory, campaign: Campaign, at: datetime, status: SignatureStatus
) -> None:
    """A signature confirmed at `at` that was later withdrawn or invalidated: its confirmation
    time stays (restoring an invalidation relies on it), but it no longer counts."""
    row = await add(sessions, campaign, at)
    async with sessions() as session, session.begin():
        await session.execute(update(Signature).where(Signature.id == row.id).values(status=status))


async def test_per_day_buckets_by_local_day_and_counts_only_confirmed(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 6, 15, 10, 0)  # 12:00 in Paris (UTC+2)
    await add(sessions, campaign, utc(2026, 6, 8, 21, 59))  # 23:59 on the 8th: before the window
    await add(sessions, campaign, utc(2026, 6, 8, 22, 0))  # midnight: the 9th, first day
    await add(sessions, campaign, utc(2026, 6, 12, 9, 0))
    await add(sessions, campaign, utc(2026, 6, 12, 9, 0))
    await add(sessions, campaign, utc(2026, 6, 14, 21, 30))  # 23:30 on the 14th in Paris
    await add(sessions, campaign, utc(2026, 6, 14, 23, 30))  # 01:30 on the 15th in Paris
    await add(sessions, campaign, utc(2026, 6, 13, 9, 0), SignatureStatus.PENDING)
    await confirmed_then(sessions, campaign, utc(2026, 6, 13, 9, 0), SignatureStatus.WITHDRAWN)
    await confirmed_then(sessions, campaign, utc(2026, 6, 13, 9, 0), SignatureStatus.INVALIDATED)
    other = await make_campaign(sessions, clock, slug="autre-campagne")
    await add(sessions, other, utc(2026, 6, 13, 9, 0))

    async with sessions() as session:
        in_paris = await stats.per_day(session, campaign, tz="Europe/Paris", days=7, now=clock())
        in_utc = await stats.per_day(session, campaign, tz="UTC", days=7, now=clock())

    assert in_paris == [
        (date(2026, 6, 9), 1),
        (date(2026, 6, 10), 0),
        (date(2026, 6, 11), 0),
        (date(2026, 6, 12), 2),
        (date(2026, 6, 13), 0),
        (date(2026, 6, 14), 1),
        (date(2026, 6, 15), 1),
    ]
    # The same signatures seen from UTC: both late ones fall on the 14th, the 8th is out.
    assert [count for _, count in in_utc] == [0, 0, 0, 2, 0, 2, 0]


async def test_per_day_today_is_the_local_day(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 6, 14, 23, 30)  # still the 14th in UTC, already the 15th in Paris
    await add(sessions, campaign, utc(2026, 6, 14, 22, 5))

    async with sessions() as session:
        days = await stats.per_day(session, campaign, tz="Europe/Paris", days=2, now=clock())

    assert days == [(date(2026, 6, 14), 0), (date(2026, 6, 15), 1)]


async def test_per_day_on_the_25_hour_day_clocks_go_back(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 10, 25, 22, 30)  # 23:30 in Paris, now UTC+1
    await add(sessions, campaign, utc(2026, 10, 24, 21, 59))  # 23:59 on the 24th (UTC+2)
    await add(sessions, campaign, utc(2026, 10, 24, 22, 0))  # 00:00 on the 25th (UTC+2)
    await add(sessions, campaign, utc(2026, 10, 25, 0, 30))  # 02:30, the first time
    await add(sessions, campaign, utc(2026, 10, 25, 1, 30))  # 02:30, the second time
    await add(sessions, campaign, utc(2026, 10, 25, 22, 59))  # 23:59 on the 25th (UTC+1)
    await add(sessions, campaign, utc(2026, 10, 25, 23, 0))  # 00:00 on the 26th: not yet

    async with sessions() as session:
        days = await stats.per_day(session, campaign, tz="Europe/Paris", days=2, now=clock())

    assert days == [(date(2026, 10, 24), 1), (date(2026, 10, 25), 4)]


async def test_per_hour_buckets_by_local_hour(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 6, 15, 10, 20)  # 12:20 in Paris
    await add(sessions, campaign, utc(2026, 6, 15, 7, 59))  # 09:59: before the window
    await add(sessions, campaign, utc(2026, 6, 15, 8, 0))  # 10:00
    await add(sessions, campaign, utc(2026, 6, 15, 9, 59))  # 11:59
    await add(sessions, campaign, utc(2026, 6, 15, 10, 15))  # 12:15
    await add(sessions, campaign, utc(2026, 6, 15, 10, 16))
    await add(sessions, campaign, utc(2026, 6, 15, 9, 0), SignatureStatus.PENDING)

    async with sessions() as session:
        hours = await stats.per_hour(session, campaign, tz="Europe/Paris", hours=3, now=clock())

    assert hours == [
        (datetime(2026, 6, 15, 10, tzinfo=PARIS), 1),
        (datetime(2026, 6, 15, 11, tzinfo=PARIS), 1),
        (datetime(2026, 6, 15, 12, tzinfo=PARIS), 2),
    ]
    assert all(start.tzinfo == PARIS for start, _ in hours)


async def test_per_hour_in_a_zone_offset_by_half_an_hour(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 6, 15, 10, 20)  # 15:50 in Kolkata (UTC+5:30)
    await add(sessions, campaign, utc(2026, 6, 15, 9, 29))  # 14:59
    await add(sessions, campaign, utc(2026, 6, 15, 9, 30))  # 15:00

    async with sessions() as session:
        hours = await stats.per_hour(session, campaign, tz="Asia/Kolkata", hours=2, now=clock())

    kolkata = ZoneInfo("Asia/Kolkata")
    assert hours == [
        (datetime(2026, 6, 15, 14, tzinfo=kolkata), 1),
        (datetime(2026, 6, 15, 15, tzinfo=kolkata), 1),
    ]


async def test_per_hour_counts_the_repeated_hour_twice_when_clocks_go_back(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 10, 25, 22, 30)  # 23:30 in Paris: the 25th has had 25 hours
    await add(sessions, campaign, utc(2026, 10, 24, 21, 59))  # 23:59 the day before
    await add(sessions, campaign, utc(2026, 10, 24, 22, 0))  # 00:00
    await add(sessions, campaign, utc(2026, 10, 25, 0, 30))  # 02:30 summer time
    await add(sessions, campaign, utc(2026, 10, 25, 0, 45))
    await add(sessions, campaign, utc(2026, 10, 25, 1, 30))  # 02:30 winter time
    await add(sessions, campaign, utc(2026, 10, 25, 22, 59))  # 23:59

    async with sessions() as session:
        hours = await stats.per_hour(session, campaign, tz="Europe/Paris", hours=25, now=clock())

    assert [start.hour for start, _ in hours] == [0, 1, 2, 2, *range(3, 24)]
    assert [start.utcoffset() for start, _ in hours[2:4]] == [
        timedelta(hours=2),
        timedelta(hours=1),
    ]
    assert hours[0] == (datetime(2026, 10, 25, 0, tzinfo=PARIS), 1)
    assert [count for _, count in hours[2:4]] == [2, 1]
    assert hours[-1] == (datetime(2026, 10, 25, 23, tzinfo=PARIS), 1)
    assert sum(count for _, count in hours) == 5
    # One hour apart each, in real time.
    instants = [start.astimezone(UTC) for start, _ in hours]
    assert {b - a for a, b in itertools.pairwise(instants)} == {timedelta(hours=1)}


async def test_per_hour_skips_the_missing_hour_when_clocks_go_forward(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    clock.now = utc(2026, 3, 29, 21, 30)  # 23:30 in Paris: the 29th has had 23 hours
    await add(sessions, campaign, utc(2026, 3, 29, 0, 59))  # 01:59 winter time
    await add(sessions, campaign, utc(2026, 3, 29, 1, 0))  # 03:00 summer time

    async with sessions() as session:
        hours = await stats.per_hour(session, campaign, tz="Europe/Paris", hours=23, now=clock())
        days = await stats.per_day(session, campaign, tz="Europe/Paris", days=1, now=clock())

    assert [start.hour for start, _ in hours] == [0, 1, *range(3, 24)]
    assert [count for _, count in hours[1:3]] == [1, 1]
    assert days == [(date(2026, 3, 29), 2)]


async def test_windows_must_be_at_least_one_long_and_now_aware(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError, match="days"):
            await stats.per_day(session, campaign, tz="UTC", days=0, now=clock())
        with pytest.raises(ValueError, match="hours"):
            await stats.per_hour(session, campaign, tz="UTC", hours=0, now=clock())
        with pytest.raises(ValueError, match="naive"):
            naive = clock().replace(tzinfo=None)
            await stats.per_day(session, campaign, tz="UTC", days=1, now=naive)


async def test_top_values_group_case_and_spaces_and_skip_empty(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    at = clock()
    for role in ("Médecin", "Médecin", " médecin  ", "MÉDECIN"):
        await add(sessions, campaign, at, role=role)
    for role in ("Infirmière", "infirmière", "Infirmière"):
        await add(sessions, campaign, at, role=role)
    for role in ("sage-femme de  garde", "Sage-femme de garde", "Aide-soignant", "aide-soignant"):
        await add(sessions, campaign, at, role=role)
    for blank in (None, "", "   ", "\u00a0"):
        await add(sessions, campaign, at, role=blank)
    await add(sessions, campaign, at, SignatureStatus.PENDING, role="Sage-femme de garde")
    await confirmed_then(sessions, campaign, at, SignatureStatus.INVALIDATED)  # role Médecin

    async with sessions() as session:
        roles = await stats.top_values(session, campaign, "role")
        first_two = await stats.top_values(session, campaign, "role", limit=2)

    assert roles == [
        ("Médecin", 4),
        ("Infirmière", 3),
        ("Aide-soignant", 2),  # ties by name
        ("Sage-femme de garde", 2),
    ]
    assert first_two == roles[:2]


async def test_top_organisations(
    sessions: SessionFactory, clock: FakeClock, campaign: Campaign
) -> None:
    at = clock()
    for organisation in ("CHU de Lyon", "chu de lyon", "CHU de Lyon", None, "AP-HP"):
        await add(sessions, campaign, at, organisation=organisation)
    other = await make_campaign(sessions, clock, slug="autre-campagne")
    for _ in range(5):
        await add(sessions, other, at, organisation="Ailleurs")

    async with sessions() as session:
        organisations = await stats.top_values(session, campaign, "organisation")
        with pytest.raises(ValueError, match="email_hash"):
            await stats.top_values(session, campaign, "email_hash")  # type: ignore[arg-type]

    assert organisations == [("CHU de Lyon", 3), ("AP-HP", 1)]


async def test_conversion(sessions: SessionFactory, clock: FakeClock, campaign: Campaign) -> None:
    async with sessions() as session:
        empty = await stats.conversion(session, campaign)
    assert (empty.submitted, empty.confirmed, empty.rate) == (0, 0, 0.0)

    at = clock()
    for _ in range(3):
        await add(sessions, campaign, at)
    for _ in range(2):
        await add(sessions, campaign, at, SignatureStatus.PENDING)
    await confirmed_then(sessions, campaign, at, SignatureStatus.WITHDRAWN)
    await confirmed_then(sessions, campaign, at, SignatureStatus.INVALIDATED)
    other = await make_campaign(sessions, clock, slug="autre-campagne")
    await add(sessions, other, at)

    async with sessions() as session:
        figures = await stats.conversion(session, campaign)

    assert figures == stats.Conversion(submitted=7, confirmed=3)
    assert figures.rate == pytest.approx(3 / 7)
