"""Values computed at most once per `ttl` seconds per key and process.

Concurrent askers of one key wait for the one computation and share its result, so a crowd
costs one computation, not one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Memo(Generic[K, T]):
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._done: dict[K, tuple[float, T]] = {}
        self._locks: dict[K, asyncio.Lock] = {}

    async def get(self, key: K, make: Callable[[], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        done = self._done.get(key)
        if done is not None and loop.time() - done[0] < self._ttl:
            return done[1]  # the common case: no lock to take
        async with self._locks.setdefault(key, asyncio.Lock()):
            done = self._done.get(key)
            if done is not None and loop.time() - done[0] < self._ttl:
                return done[1]
            result = await make()
            self._done[key] = (loop.time(), result)
            return result
