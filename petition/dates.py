"""Dates as people read them, in one style per language: pages, mails, letters and logs alike.

French writes the first day of a month as an ordinal, « 1er décembre 2026 », which Babel's
patterns cannot say (they give « 1 décembre 2026 »); every other day is a plain number. English
says "1 December 2026", day before month as in Babel's en_GB long format, never the American
"December 1, 2026" of its "en": one order for readers on both sides of the page. A time adds
the hour and minute after a comma, "1 December 2026, 14:05": seconds and UTC offsets mean
nothing to a signer.

Machine dates (exports, JSON, file names, RFC 5322 mail headers) are not formatted here.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

DAY = "d MMMM y"  # French and British English share it
FIRST_OF_THE_MONTH = "d'er' MMMM y"  # French only: « 1er »
TIME = ", HH:mm"


def long_date(value: date | datetime, locale: str, tz: str | None = None) -> str:
    """ "1er décembre 2026", "1 December 2026": the day, in the time zone `tz` for an instant."""
    if isinstance(value, datetime):
        value = local(value, tz).date() if tz else value.date()
    return _day(value, locale)


def long_datetime(value: datetime, locale: str, tz: str) -> str:
    """ "1er décembre 2026, 14:05", "1 December 2026, 14:05": the minute, in the time zone `tz`."""
    # Cached by the wall-clock minute: aware instants in two zones would be equal keys.
    wall = local(value, tz).replace(second=0, microsecond=0, tzinfo=None)
    return _minute(wall, locale)


def local(value: datetime, tz: str) -> datetime:
    """An instant in the time zone `tz`; a naive one is taken as UTC, as the database keeps it."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz))


@functools.lru_cache(maxsize=256)
def _day(day: date, locale: str) -> str:
    return format_date(day, _pattern(day, locale), locale=locale)


@functools.lru_cache(maxsize=256)
def _minute(wall: datetime, locale: str) -> str:
    """Formatted once per minute and language: the mails of a burst share their expiry's."""
    # Naive, so Babel shows the wall clock as it is (the pattern names no zone).
    return format_datetime(wall, _pattern(wall, locale) + TIME, locale=locale)


def _pattern(day: date, locale: str) -> str:
    french = locale.replace("-", "_").split("_")[0].lower() == "fr"
    return FIRST_OF_THE_MONTH if french and day.day == 1 else DAY
