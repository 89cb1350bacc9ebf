"""Proof of work (ALTCHA): the browser spends a second of computation before its form is taken.

Challenges are signed by us (HMAC with a key derived from the server secret), bound to one
campaign and to an expiry in their signed data, and each solution is accepted once: its hash is
kept until the challenge would have expired anyway. The library checks signature and solution;
the expiry is checked here against our own clock.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import altcha
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from petition.models import SpentChallenge

ALGORITHM = "PBKDF2/SHA-256"
KEY_PREFIX = "00"  # one byte: 256 attempts on average


def hmac_key(secret: bytes) -> bytes:
    """The key our challenges are signed with, derived from the server secret."""
    return hmac.new(secret, b"altcha-challenges", hashlib.sha256).digest()


def challenge(
    secret: bytes, campaign_id: int, now: datetime, cost: int, valid: timedelta
) -> dict[str, Any]:
    """A new challenge for one campaign, as the widget expects it (JSON)."""
    expires = int((now + valid).timestamp())
    issued = altcha.create_challenge(
        ALGORITHM,
        cost,
        key_prefix=KEY_PREFIX,
        data={"campaign": campaign_id, "expires": expires},
        hmac_secret=hmac_key(secret),
    )
    return dict(issued.to_dict())


# What can be wrong with a solution; each is also the name of the rule that quarantines it.
INVALID = "pow_invalid"
EXPIRED = "pow_expired"
REPLAYED = "pow_replayed"
OTHER_CAMPAIGN = "pow_campaign"


async def check(
    session: AsyncSession, secret: bytes, payload: str, campaign_id: int, now: datetime
) -> str | None:
    """None if the solution is good (and now spent), else the rule it breaks."""
    try:
        parsed = altcha.Payload.from_base64(payload)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return INVALID
    data = parsed.challenge.parameters.data
    if not isinstance(data, dict):
        return INVALID
    try:
        verified = altcha.verify_solution(parsed, hmac_key(secret)).verified
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return INVALID  # whatever a forger sends, it is a wrong solution, not a server error
    if not verified:
        return INVALID
    if data.get("campaign") != campaign_id:
        return OTHER_CAMPAIGN
    expires = data.get("expires")
    if not isinstance(expires, int) or expires <= now.timestamp():
        return EXPIRED
    signature = parsed.challenge.signature or ""
    spent = SpentChallenge(
        challenge_hash=hashlib.sha256(signature.encode()).hexdigest(),
        expires_at=datetime.fromtimestamp(expires, now.tzinfo),
    )
    try:
        async with session.begin_nested():
            session.add(spent)
            await session.flush()
    except IntegrityError:
        return REPLAYED
    return None
