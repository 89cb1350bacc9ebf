"""Organiser passwords: argon2id, hashed off the event loop, equal time for unknown accounts.

Hashing is deliberately expensive (64 MiB and several threads per password). Done without
bound, twenty logins at once would take every core and freeze every page. So it runs on a few
threads of its own, at most one per core the process may use minus one left for pages (at
least one), and at a lower scheduling priority: logins queue behind each other, pages do not
queue behind logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from petition.i18n import _

MIN_LENGTH = 12
MAX_LENGTH = 1024
# Niceness of the hashing threads (Linux schedules threads by their own niceness): pages first.
HASHING_NICENESS = 10
T = TypeVar("T")


def hashing_workers() -> int:
    """How many passwords may be hashed at once: the usable cores but one, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


class Passwords:
    """argon2-cffi's defaults (RFC 9106 low-memory: t=3, 64 MiB, p=4) exceed OWASP's minimum."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self.workers = hashing_workers()
        self._pool = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="argon2", initializer=_lower_priority
        )
        # Verified against when the account is unknown or has no password yet, so that a
        # failed login takes the same time whatever the reason.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await self._off_loop(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await self._off_loop(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _off_loop(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def _lower_priority() -> None:
    # Linux gives each thread its own niceness, which the threads argon2 starts for its lanes
    # inherit. Elsewhere a thread id is no process id: leave it, the bound on workers remains.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def password_problem(password: str) -> str | None:
    """A message id when a new password is unacceptable, else None."""
    if len(password) < MIN_LENGTH:
        return _("Choose a password of at least 12 characters.")
    if len(password) > MAX_LENGTH:
        return _("This is too long.")
    return None
