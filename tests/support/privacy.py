"""Looking for a secret everywhere the database keeps data."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import Base


async def until_no_row_mentions(sessions: SessionFactory, needle: str) -> None:
    """Every row of every table, as text; the sender erases right after delivery."""
    for _ in range(50):
        found = []
        async with sessions() as session:
            for table in Base.metadata.sorted_tables:
                rows = (await session.execute(select(table))).all()
                found += [table.name for row in rows if needle in repr(tuple(row))]
        if not found:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{needle} still stored in {found}")
