"""Slowing down password guessing, per account and per client, without storing addresses."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta


class Throttle:
    """Failures per key in a sliding window, kept in this process's memory only.

    With several worker processes each keeps its own window, so the effective limit is
    multiplied by their number; a shared store (Redis) can replace this class behind the
    same three methods.
    """

    def __init__(self, limit: int, window: timedelta, clock: Callable[[], datetime]) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: defaultdict[str, deque[datetime]] = defaultdict(deque)

    def blocked(self, key: str) -> bool:
        return len(self._recent(key)) >= self._limit

    def fail(self, key: str) -> None:
        self._recent(key).append(self._clock())

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[datetime]:
        failures = self._failures[key]
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
