"""Which campaigns a transaction changed, so live counts can follow once it has committed.

Domain functions record the change on the session they were given; whoever commits the
session takes the set and announces it (see petition.bus). Nothing is announced for a
transaction that rolls back.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "petition.changed_campaigns"
_COUNTED = "petition.counted"


def record(session: AsyncSession, campaign_id: int) -> None:
    session.info.setdefault(_KEY, set()).add(campaign_id)


def count(session: AsyncSession, campaign_id: int, delta: int) -> None:
    """A campaign's count moved by `delta`: this process's own pages may show it at once."""
    record(session, campaign_id)
    counted = session.info.setdefault(_COUNTED, {})
    counted[campaign_id] = counted.get(campaign_id, 0) + delta


def take(session: AsyncSession) -> frozenset[int]:
    return frozenset(session.info.pop(_KEY, ()))


def take_counted(session: AsyncSession) -> dict[int, int]:
    return dict(session.info.pop(_COUNTED, {}))
