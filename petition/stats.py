"""What organisers watch on a campaign's dashboard: signatures per day and per hour, the most
frequent roles and organisations, and how many of the signatures submitted were confirmed.

Like the other domain modules, every function takes the caller's session first and never
commits: these are reads, done in whatever transaction the caller has open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from petition import spellings
from petition.models import Campaign, Signature, SignatureStatus

# Rows fetched per round trip while streaming timestamps: memory stays flat whatever the size of
# the campaign, and the round trips stay few.
STREAM_BATCH = 1000

_K = TypeVar("_K", bound=Hashable)

_COLUMNS: dict[str, InstrumentedAttribute[str | None]] = {
    "role": Signature.role,
    "organisation": Signature.organisation,
}


@dataclass(frozen=True, slots=True)
class Conversion:
    """How many signatures were ever submitted, and how many of them are confirmed now."""

    submitted: int
    confirmed: int

    @property
    def rate(self) -> float:
        return self.confirmed / self.submitted if self.submitted else 0.0


async def per_day(
    session: AsyncSession, campaign: Campaign, *, tz: str, days: int, now: datetime
) -> list[tuple[date, int]]:
    """Confirmed signatures per local calendar day, the last `days` days up to today, oldest
    first, days without any included with 0."""
    if days < 1:
        raise ValueError("days must be at least 1")
    zone = ZoneInfo(tz)
    today = _aware(now).astimezone(zone).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    found = await _count_confirmed(
        session,
        campaign,
        start=_day_start(dates[0], zone),
        end=_day_start(today + timedelta(days=1), zone),
        key=lambda moment: moment.astimezone(zone).date(),
    )
    return [(day, found[day]) for day in dates]


async def per_hour(
    session: AsyncSession, campaign: Campaign, *, tz: str, hours: int, now: datetime
) -> list[tuple[datetime, int]]:
    """Confirmed signatures per local hour, the last `hours` hours up to the current one, oldest
    first, as aware datetimes in `tz` at the start of each hour.

    On the night clocks go back, the repeated hour appears twice, told apart by its offset
    (and `fold`); on the night they go forward, the skipped hour does not appear.
    """
    if hours < 1:
        raise ValueError("hours must be at least 1")
    zone = ZoneInfo(tz)
    # Buckets are keyed by the UTC instant each local hour starts: two local hours with the
    # same wall-clock time (clocks going back) would compare equal as local datetimes.
    starts = [_hour_start(_aware(now), zone)]
    for _ in range(hours - 1):
        starts.append(_hour_start(starts[-1] - timedelta(microseconds=1), zone))
    starts.reverse()
    found = await _count_confirmed(
        session,
        campaign,
        start=starts[0],
        end=_next_hour_start(starts[-1], zone),
        key=lambda moment: _hour_start(moment, zone),
    )
    return [(start.astimezone(zone), found[start]) for start in starts]


async def top_values(
    session: AsyncSession,
    campaign: Campaign,
    column: Literal["role", "organisation"],
    *,
    limit: int = 10,
) -> list[tuple[str, int]]:
    """The most frequent roles or organisations of confirmed signers, most frequent first,
    ties by name; spellings differing only in case or spaces count together, shown as the
    most common of them. Empty and missing values are left out."""
    attribute = _COLUMNS.get(column)
    if attribute is None:
        raise ValueError(f"no statistics on {column!r}")
    # The database groups identical values (one row per distinct spelling, not per signature);
    # the case-insensitive merge is done here, because SQLite's lower() folds only ASCII
    # ("MÉDECIN" would stay apart from "médecin") and both databases must give the same answer.
    result = await session.execute(
        select(attribute, func.count())
        .where(
            Signature.campaign_id == campaign.id,
            Signature.status == SignatureStatus.CONFIRMED,
            attribute.is_not(None),
            func.trim(attribute) != "",
        )
        .group_by(attribute)
    )
    counted = [(value, count) for value, count in result if value is not None]
    return spellings.merge(counted)[: max(0, limit)]


async def conversion(session: AsyncSession, campaign: Campaign) -> Conversion:
    """Signatures submitted (whatever became of them: pending, confirmed, withdrawn or
    invalidated) against those confirmed now. One GROUP BY on the (campaign, status) index."""
    result = await session.execute(
        select(Signature.status, func.count())
        .where(Signature.campaign_id == campaign.id)
        .group_by(Signature.status)
    )
    by_status = {status: int(count) for status, count in result}
    return Conversion(
        submitted=sum(by_status.values()),
        confirmed=by_status.get(SignatureStatus.CONFIRMED, 0),
    )


async def _count_confirmed(
    session: AsyncSession,
    campaign: Campaign,
    *,
    start: datetime,
    end: datetime,
    key: Callable[[datetime], _K],
) -> Counter[_K]:
    """Count the confirmed signatures of [start, end) by `key` of their confirmation time.

    Only the timestamps in the window are read, and the buckets are made here with zoneinfo
    rather than in SQL: SQLite has no time zones and PostgreSQL's AT TIME ZONE uses its own
    copy of the zone database, so only Python gives local days and hours that are right across
    DST changes and identical on both databases. Streaming keeps memory flat on big campaigns.
    """
    query = (
        select(Signature.confirmed_at)
        .where(
            Signature.campaign_id == campaign.id,
            Signature.status == SignatureStatus.CONFIRMED,
            Signature.confirmed_at >= start,
            Signature.confirmed_at < end,
        )
        .execution_options(yield_per=STREAM_BATCH)
    )
    found: Counter[_K] = Counter()
    result = await session.stream_scalars(query)
    # By batches: iterating row by row would cost a greenlet switch per row, most of the time.
    async for batch in result.partitions():
        found.update(key(confirmed_at) for confirmed_at in batch if confirmed_at is not None)
    return found


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime given where an instant is needed")
    return moment


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a local day starts. Where midnight is skipped by a DST change, fold=0
    maps it to the instant of the change, which is when that day starts."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _hour_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant the local hour containing `moment` started; right for zones offset by
    half or quarter hours too, where local hours do not start on UTC hours."""
    local = moment.astimezone(zone)
    # replace() keeps `fold`, so the second of two identical wall-clock hours stays second.
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _next_hour_start(start: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant the local hour after the one starting at `start` starts. Aiming at the
    middle of the next hour, not its start, stays right where a DST change makes an hour last
    90 minutes (Lord Howe Island moves its clocks by half an hour)."""
    return _hour_start(start + timedelta(minutes=90), zone)
