"""Organiser passwords: argon2id, hashed off the event loop, equal time for unknown accounts."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from petition.i18n import _

MIN_LENGTH = 12
MAX_LENGTH = 1024


class Passwords:
    """argon2-cffi's defaults (RFC 9106 low-memory: t=3, 64 MiB, p=4) exceed OWASP's minimum."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Verified against when the account is unknown or has no password yet, so that a
        # failed login takes the same time whatever the reason.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def password_problem(password: str) -> str | None:
    """A message id when a new password is unacceptable, else None."""
    if len(password) < MIN_LENGTH:
        return _("Choose a password of at least 12 characters.")
    if len(password) > MAX_LENGTH:
        return _("This is too long.")
    return None
