"""Proof of work (ALTCHA): the browser spends a second of computation before its form is taken.

Challenges are signed by us (HMAC with a key derived from the server secret), bound to one
campaign and to an expiry in their signed data, and each solution is accepted once: its hash is
kept until the challenge would have expired anyway. The library checks signature and solution;
the expiry is checked here against our own clock.

The browser's work is a search: attempts of a short PBKDF2, one per counter, until it meets the
one we picked at random. It needs thousands of attempts; we derive one, to issue the challenge,
and sign the key it gives (ALTCHA's key signature). A check then compares the key the browser
found with that signature, one HMAC: microseconds, whatever the cost. Raising the cost lengthens
the search and costs the server nothing more. (A challenge issued without a key signature, by
an earlier version, is checked by deriving its key again.)
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import altcha
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from petition import db
from petition.models import SpentChallenge

# The browser's widget (pbkdf2.js worker, registered in static/pow.js) solves it with WebCrypto.
ALGORITHM = "PBKDF2/SHA-256"
# `cost` keeps the meaning it had when a challenge was one key prefix "00" to meet (256 attempts
# on average) with `cost` iterations per attempt: the browser computes 256 × cost iterations on
# average, 256 × 5000 = 1,280,000 by default (each an HMAC-SHA-256, two SHA-256 blocks).
ATTEMPTS_PER_COST = 256
# Iterations per attempt: what the server derives to issue and to check, 16 times fewer than the
# 5000 it derived before; by default 1,280,000 / 312 = 4103 attempts on average. Shorter attempts
# would cost the browser more for the same work: each is three WebCrypto calls, which take
# Chromium as long as about 210 iterations (one SHA-256 per attempt, 1.28 million attempts, took
# it 32 s where this takes 0.5 s; bench/README.md, "Proof-of-work cost").
ATTEMPT_ITERATIONS = 312


@functools.lru_cache(maxsize=4)
def hmac_key(secret: bytes) -> bytes:
    """The key our challenges are signed with, derived from the server secret."""
    return hmac.new(secret, b"altcha-challenges", hashlib.sha256).digest()


@functools.lru_cache(maxsize=4)
def key_signing_key(secret: bytes) -> bytes:
    """The key the solution's derived key is signed with, another one from the server secret."""
    return hmac.new(secret, b"altcha-derived-keys", hashlib.sha256).digest()


def search(cost: int) -> tuple[int, int]:
    """(iterations per attempt, attempts on average) for the work `cost` asks of a browser."""
    work = ATTEMPTS_PER_COST * cost
    iterations = min(ATTEMPT_ITERATIONS, work)
    return iterations, max(1, round(work / iterations))


def challenge(
    secret: bytes, campaign_id: int, now: datetime, cost: int, valid: timedelta
) -> dict[str, Any]:
    """A new challenge for one campaign, as the widget expects it (JSON)."""
    iterations, attempts = search(cost)
    expires = int((now + valid).timestamp())
    # The counter to find is drawn uniformly from 0 to 2 × attempts - 2: the search takes
    # `attempts` on average and never twice as many (8205 at most by default, where a key prefix
    # to meet had no bound). The challenge carries the first half of that counter's derived key;
    # the draw is secret, so there is no way round the search.
    issued = altcha.create_challenge(
        ALGORITHM,
        iterations,
        counter=secrets.randbelow(2 * attempts - 1),
        data={"campaign": campaign_id, "expires": expires},
        hmac_secret=hmac_key(secret),
        hmac_key_secret=key_signing_key(secret),
    )
    return dict(issued.to_dict())


# What can be wrong with a solution; each is also the name of the rule that quarantines it.
INVALID = "pow_invalid"
EXPIRED = "pow_expired"
REPLAYED = "pow_replayed"
OTHER_CAMPAIGN = "pow_campaign"


@dataclass(frozen=True, slots=True)
class Spend:
    """A good solution, still to be spent once: what the database keeps of it."""

    challenge_hash: str
    expires_at: datetime

    def row(self) -> dict[str, object]:
        return {"challenge_hash": self.challenge_hash, "expires_at": self.expires_at}


def judge(secret: bytes, payload: str, campaign_id: int, now: datetime) -> Spend | str:
    """Everything but the one-time use: the solution to spend, or the rule it breaks.

    CPU only (microseconds): done in the request, before the writer."""
    try:
        parsed = altcha.Payload.from_base64(payload)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return INVALID
    data = parsed.challenge.parameters.data
    if not isinstance(data, dict):
        return INVALID
    try:
        good = verified(parsed, secret)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return INVALID  # whatever a forger sends, it is a wrong solution, not a server error
    if not good:
        return INVALID
    if data.get("campaign") != campaign_id:
        return OTHER_CAMPAIGN
    expires = data.get("expires")
    if not isinstance(expires, int) or expires <= now.timestamp():
        return EXPIRED
    signature = parsed.challenge.signature or ""
    return Spend(
        hashlib.sha256(signature.encode()).hexdigest(), datetime.fromtimestamp(expires, now.tzinfo)
    )


async def spend(session: AsyncSession, solution: Spend) -> bool:
    """Spend a good solution; False if it was spent already (the primary key decides)."""
    return await session.scalar(_spend(db.dialect_of(session)), solution.row()) is not None


async def check(
    session: AsyncSession, secret: bytes, payload: str, campaign_id: int, now: datetime
) -> str | None:
    """None if the solution is good (and now spent), else the rule it breaks."""
    judged = judge(secret, payload, campaign_id, now)
    if isinstance(judged, str):
        return judged
    return None if await spend(session, judged) else REPLAYED


def verified(parsed: altcha.Payload, secret: bytes) -> bool:
    """Whether the solution is right for a challenge we signed (its expiry is the caller's)."""
    found = _signed_key_found(parsed, secret)
    if found is not None:
        return found
    judged = altcha.verify_solution(
        parsed, hmac_key(secret), hmac_key_secret=key_signing_key(secret)
    )
    return bool(judged.verified)


def _signed_key_found(parsed: altcha.Payload, secret: bytes) -> bool | None:
    """The check of a challenge we issued, as `altcha.verify_solution` makes it, faster.

    The library signs the challenge's parameters as JavaScript's JSON.stringify of them with
    sorted keys would write them, in Python code of its own (~45 µs). For the parameters we
    issue — ASCII keys and strings, integers — `json.dumps` in C writes the same text
    (tests/test_pow.py holds them side by side). If it matches our signature, the parameters
    are the ones we signed; then the key is checked against its signature, as the library's
    fast path does. None sends everything else to the library, which judges it fully.
    """
    challenge = parsed.challenge
    parameters = challenge.parameters
    if not (isinstance(challenge.signature, str) and isinstance(parameters.key_signature, str)):
        return None
    text = canonical(parameters.to_dict()).encode()
    signed = hmac.digest(hmac_key(secret), text, "sha256").hex()
    if not hmac.compare_digest(challenge.signature, signed):
        return None  # not our text of them, or not ours at all: the library's to say
    derived = parsed.solution.derived_key
    try:
        key = bytes.fromhex(derived) if isinstance(derived, str) else b""
    except ValueError:
        return False
    found = hmac.digest(key_signing_key(secret), key, "sha256").hex()
    return bool(key) and hmac.compare_digest(parameters.key_signature, found)


def canonical(parameters: dict[str, Any]) -> str:
    """What we sign a challenge's parameters as (see `_signed_key_found`)."""
    return json.dumps(parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.cache
def _spend(dialect: str) -> ReturningInsert[Any]:
    table = SpentChallenge.__table__.c
    return (
        db.upsert(dialect, SpentChallenge)
        .on_conflict_do_nothing(index_elements=[table.challenge_hash])
        .returning(table.challenge_hash)
    )
