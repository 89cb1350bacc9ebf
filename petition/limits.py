"""Counting requests per pseudonymous client, in this process or in Redis (several workers).

Client addresses are never kept: a key is the HMAC of the address with a salt drawn at random
each day and held only in memory or in Redis (where it expires), so yesterday's keys cannot be
linked to anyone once the salt is gone.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "petition:"
RETRY_AFTER = 30  # seconds without asking Redis after it failed


class Counter(Protocol):
    """Hits per key in fixed windows; answers the number of hits in the current window."""

    async def hit(self, key: str, window: timedelta) -> int: ...

    async def forget(self, key: str, window: timedelta) -> None:
        """Start the current window of this key again from zero."""

    async def salt(self, day: date) -> bytes: ...


class MemoryCounter:
    """One process's counts; with several workers each has its own (use Redis then)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        # Per window length, the window now open and its counts per key. A window that is over
        # is dropped whole when the next one opens: no scan over every client ever seen (with
        # tens of thousands of signers an hour, a scan per request made signing quadratic).
        self._windows: dict[int, tuple[int, dict[str, int]]] = {}
        self._salts: dict[date, bytes] = {}

    async def hit(self, key: str, window: timedelta) -> int:
        counts = self._open(int(window.total_seconds()))
        count = counts.get(key, 0) + 1
        counts[key] = count
        return count

    async def forget(self, key: str, window: timedelta) -> None:
        self._open(int(window.total_seconds())).pop(key, None)

    async def salt(self, day: date) -> bytes:
        if day not in self._salts:
            self._salts = {day: secrets.token_bytes(32)}  # the previous day's salt is dropped
        return self._salts[day]

    def _open(self, seconds: int) -> dict[str, int]:
        """The counts of the window of this length that is open now."""
        slot = int(self._clock().timestamp()) // seconds
        window = self._windows.get(seconds)
        if window is None or window[0] != slot:
            window = (slot, {})
            self._windows[seconds] = window
        return window[1]


class RedisCounter:
    """Counts shared by every worker: INCR on a key that expires with its window.

    If Redis cannot answer, this process counts on its own meanwhile (and says so in the log):
    signing must not stop because the anti-abuse store is away.
    """

    def __init__(self, url: str, clock: Callable[[], datetime], namespace: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._clock = clock
        self._salts: dict[date, bytes] = {}
        # Sites sharing one Redis server must not share counts: keys carry the site's namespace.
        self._prefix = f"{PREFIX}{namespace}:"
        self._fallback = MemoryCounter(clock)
        self._away_until = 0.0  # monotonic time before which Redis is not asked again

    async def hit(self, key: str, window: timedelta) -> int:
        if time.monotonic() >= self._away_until:
            try:
                return await self._shared_hit(key, window)
            except (RedisError, OSError) as exc:
                self._gone(exc)
        return await self._fallback.hit(key, window)

    async def forget(self, key: str, window: timedelta) -> None:
        await self._fallback.forget(key, window)
        if time.monotonic() >= self._away_until:
            try:
                await self._redis.delete(self._name(key, window))
            except (RedisError, OSError) as exc:
                self._gone(exc)

    async def salt(self, day: date) -> bytes:
        if time.monotonic() >= self._away_until:
            try:
                return await self._shared_salt(day)
            except (RedisError, OSError, ValueError) as exc:
                self._gone(exc)
        return await self._fallback.salt(day)

    def _gone(self, exc: Exception) -> None:
        """Count in this process for a while rather than make every signer wait for Redis."""
        self._away_until = time.monotonic() + RETRY_AFTER
        log.warning(
            "anti-abuse counts: redis unavailable (%s); counting in this process for %d s",
            type(exc).__name__,
            RETRY_AFTER,
        )

    def _name(self, key: str, window: timedelta) -> str:
        seconds = int(window.total_seconds())
        slot = int(self._clock().timestamp()) // seconds
        return f"{self._prefix}hits:{seconds}:{slot}:{key}"

    async def _shared_hit(self, key: str, window: timedelta) -> int:
        seconds = int(window.total_seconds())
        name = self._name(key, window)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, seconds * 2)
            count, _ = await pipe.execute()
        return int(count)

    async def _shared_salt(self, day: date) -> bytes:
        if day not in self._salts:
            name = f"{self._prefix}salt:{day.isoformat()}"
            # The first worker of the day draws it; the others read the same one. It expires
            # two days later, by which time nobody uses it.
            await self._redis.set(name, secrets.token_hex(32), nx=True, ex=2 * 86400)
            value = await self._redis.get(name)
            text = value.decode() if isinstance(value, bytes) else str(value)
            self._salts = {day: bytes.fromhex(text)}
        return self._salts[day]

    async def close(self) -> None:
        await self._redis.aclose()


class ClientKeys:
    """Pseudonymous keys for client addresses, with the counter's salt of the day."""

    def __init__(self, counter: Counter, clock: Callable[[], datetime]) -> None:
        self._counter = counter
        self._clock = clock

    async def key(self, address: str) -> str:
        salt = await self._counter.salt(self._clock().date())
        return hmac.digest(salt, address.encode(), "sha256").hex()
