"""Counting requests per pseudonymous client, in this process or in Redis (several workers).

Client addresses are never kept: a key is the HMAC of the address with a salt drawn at random
each day and held only in memory or in Redis (where it expires), so yesterday's keys cannot be
linked to anyone once the salt is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis

PREFIX = "petition:"


class Counter(Protocol):
    """Hits per key in fixed windows; answers the number of hits in the current window."""

    async def hit(self, key: str, window: timedelta) -> int: ...

    async def salt(self, day: date) -> bytes: ...


class MemoryCounter:
    """One process's counts; with several workers each has its own (use Redis then)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, int], int] = {}
        self._salts: dict[date, bytes] = {}

    async def hit(self, key: str, window: timedelta) -> int:
        seconds = int(window.total_seconds())
        slot = int(self._clock().timestamp()) // seconds
        self._forget_before(slot, seconds)
        count = self._hits.get((key, slot), 0) + 1
        self._hits[(key, slot)] = count
        return count

    async def salt(self, day: date) -> bytes:
        if day not in self._salts:
            self._salts = {day: secrets.token_bytes(32)}  # the previous day's salt is dropped
        return self._salts[day]

    def _forget_before(self, slot: int, seconds: int) -> None:
        if len(self._hits) < 10_000:
            return
        self._hits = {k: v for k, v in self._hits.items() if k[1] >= slot - 1}


class RedisCounter:
    """Counts shared by every worker: INCR on a key that expires with its window."""

    def __init__(self, url: str, clock: Callable[[], datetime], namespace: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=1.0)
        self._clock = clock
        self._salts: dict[date, bytes] = {}
        # Sites sharing one Redis server must not share counts: keys carry the site's namespace.
        self._prefix = f"{PREFIX}{namespace}:"

    async def hit(self, key: str, window: timedelta) -> int:
        seconds = int(window.total_seconds())
        slot = int(self._clock().timestamp()) // seconds
        name = f"{self._prefix}hits:{seconds}:{slot}:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, seconds * 2)
            count, _ = await pipe.execute()
        return int(count)

    async def salt(self, day: date) -> bytes:
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
        return hmac.new(salt, address.encode(), hashlib.sha256).hexdigest()
