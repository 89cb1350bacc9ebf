"""Password hashing is bounded: however many logins arrive, a few hash at once, and below pages."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Literal

import pytest
from argon2 import PasswordHasher

from petition.passwords import HASHING_NICENESS, Passwords, hashing_workers


class Watching(PasswordHasher):
    """argon2id as configured, noting how many passwords are hashed at once, at what niceness."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.niceness: set[int] = set()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if sys.platform == "linux":
                self.niceness.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        try:
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_twenty_logins_at_once_hash_one_core_s_worth_at_a_time() -> None:
    hasher = Watching()
    passwords = Passwords(hasher)
    stored = hasher.hash("the right passphrase")
    try:
        results = await asyncio.gather(
            *(passwords.verify(stored, f"wrong guess {n}") for n in range(20))
        )
    finally:
        passwords.close()
    assert results == [False] * 20
    assert hasher.most == passwords.workers == hashing_workers()
    assert hashing_workers() == max(1, len(os.sched_getaffinity(0)) - 1)


@pytest.mark.skipif(sys.platform != "linux", reason="threads have their own niceness on Linux")
async def test_hashing_runs_below_the_pages_priority() -> None:
    hasher = Watching()
    passwords = Passwords(hasher)
    try:
        assert await passwords.verify(hasher.hash("the right passphrase"), "the right passphrase")
    finally:
        passwords.close()
    assert hasher.niceness == {max(HASHING_NICENESS, os.nice(0))}
