"""What an engine executed: the statements that hold given fragments of SQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextlib.contextmanager
def executed(engine: AsyncEngine, *fragments: str) -> Iterator[list[str]]:
    """The statements the engine executed while inside that hold every one of `fragments`."""
    seen: list[str] = []

    def look(*args: object) -> None:
        statement = str(args[2])  # (connection, cursor, statement, parameters, context, many)
        if all(fragment in statement for fragment in fragments):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", look)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", look)
