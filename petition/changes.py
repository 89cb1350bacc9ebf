"""Which campaigns a transaction changed, so live counts can follow once it has committed.

Domain functions record the change on the session they were given; whoever commits the
session takes the set and announces it (see petition.bus). Nothing is announced for a
transaction that rolls back.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "petition.changed_campaigns"


def record(session: AsyncSession, campaign_id: int) -> None:
    session.info.setdefault(_KEY, set()).add(campaign_id)


def take(session: AsyncSession) -> frozenset[int]:
    return frozenset(session.info.pop(_KEY, ()))
