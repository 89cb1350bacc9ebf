"""Slowing down password guessing, per account and per client, without storing addresses.

Each attempt is counted before its password is checked, in one atomic step (an increment in this
process, or INCR in Redis, shared by every worker process): of thirty attempts sent at once, only
the first `per_account` are checked, and the others are refused without any hashing work.
Accounts and clients are known by keys made with the counter's salt of the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from petition.limits import ClientKeys, Counter

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt that was let through, to be forgiven if it succeeds."""

    account_key: str


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    counter: Counter
    client_keys: ClientKeys
    per_account: int
    per_client: int

    async def admit(self, email_hash: str, client: str) -> Attempt | None:
        """Count this attempt; None when the account or the client used up its attempts."""
        account = f"login:account:{await self.client_keys.key(email_hash)}"
        source = f"login:client:{await self.client_keys.key(client)}"
        tried = await self.counter.hit(account, WINDOW)
        from_there = await self.counter.hit(source, WINDOW)
        if tried > self.per_account or from_there > self.per_client:
            return None
        return Attempt(account)

    async def succeeded(self, attempt: Attempt) -> None:
        """The right password: the account's earlier failures are forgiven."""
        await self.counter.forget(attempt.account_key, WINDOW)
