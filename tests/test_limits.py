"""Counting per client in one process: windows of different lengths live side by side."""

from __future__ import annotations

from datetime import timedelta

from petition.limits import MemoryCounter
from tests.support.clock import FakeClock

TEN_MINUTES = timedelta(minutes=10)
DAY = timedelta(days=1)


async def test_a_days_count_survives_the_clean_up_of_short_windows() -> None:
    clock = FakeClock()
    counter = MemoryCounter(clock)
    assert await counter.hit("client", DAY) == 1
    # A crowd of other clients fills the table and triggers the clean-up of finished windows.
    clock.advance(minutes=11)
    for n in range(10_001):
        await counter.hit(f"other-{n}", TEN_MINUTES)
    clock.advance(minutes=11)
    await counter.hit("one-more", TEN_MINUTES)
    # The short windows that are over are gone; the day's count of our client is not.
    assert await counter.hit("client", DAY) == 2
    assert await counter.hit("other-1", TEN_MINUTES) == 1


async def test_a_new_day_draws_a_new_salt_and_forgets_the_old_one() -> None:
    clock = FakeClock()
    counter = MemoryCounter(clock)
    today = clock().date()
    first = await counter.salt(today)
    assert await counter.salt(today) == first
    clock.advance(days=1)
    assert await counter.salt(clock().date()) != first
    # Yesterday's salt cannot be had again: keys made with it can no longer be linked.
    assert await counter.salt(today) != first
