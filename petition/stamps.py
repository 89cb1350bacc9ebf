"""Signed timestamps in forms: when the form was shown, which nobody can fake or reuse elsewhere.

A person needs some seconds to fill in a form; a script posting at once gives itself away.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime


def issue(secret: bytes, purpose: str, now: datetime) -> str:
    """A stamp for a form about `purpose` (e.g. a campaign), shown at `now`."""
    moment = str(int(now.timestamp()))
    return f"{moment}.{_mac(secret, purpose, moment)}"


def shown_at(secret: bytes, purpose: str, stamp: str) -> datetime | None:
    """When the form carrying this stamp was shown; None if it is missing, forged or foreign."""
    moment, dot, mac = stamp.partition(".")
    if not dot or not moment.isdigit() or len(moment) > 12:
        return None
    if not hmac.compare_digest(mac, _mac(secret, purpose, moment)):
        return None
    return datetime.fromtimestamp(int(moment), UTC)


def _mac(secret: bytes, purpose: str, moment: str) -> str:
    message = f"form-stamp\x00{purpose}\x00{moment}".encode()
    return hmac.digest(secret, message, "sha256").hex()[:32]
