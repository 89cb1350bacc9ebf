"""A clock the tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Campaigns close, and dashboards filter by day, in the site's time zone (Europe/Paris, an hour
# or two ahead of UTC), and limits count in UTC days: a test started late in the UTC evening
# would see two different dates, or cross midnight as its clock advances.
LATE_EVENING = 21  # from this hour (UTC) on, a clock started now starts the next morning


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or daytime()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def daytime() -> datetime:
    """Now, or, late in the UTC evening, six hours later: the same date in Paris and in UTC,
    hours away from midnight. Never earlier than now (cookies expire by the real clock)."""
    now = datetime.now(UTC)
    return now + timedelta(hours=6) if now.hour >= LATE_EVENING else now
