"""How a change made by one server process reaches every other: the change bus.

A message only says "these campaigns changed"; each process then reads the counts again
from the database, which stays the one source of truth. A lost message therefore costs
freshness, never correctness: every process also reads again on a schedule (live_resync).

- `MemoryBus`: one process (SQLite's usual deployment); nothing leaves it.
- `PostgresBus`: NOTIFY is issued inside the very transaction that changed the count, so it
  is delivered if and only if that transaction commits; each process LISTENs on one
  connection of its own.
- `RedisBus`: PUBLISH after the commit, SUBSCRIBE on one connection per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from petition.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "petition_changes"
RECONNECT_DELAY = 2.0  # seconds between two attempts to reach the bus again
PUBLISH_TIMEOUT = 1.0  # a slow bus must not hold up the answer to a signer

# Called with the ids of changed campaigns, or None when anything may have changed
# (messages may have been lost while the bus was unreachable).
Deliver = Callable[[frozenset[int] | None], None]


def encode(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))


def decode(payload: str) -> frozenset[int] | None:
    try:
        return frozenset(int(part) for part in payload.split(",") if part)
    except ValueError:
        return None  # not ours or garbled: read everything again rather than guess


class Bus:
    """The in-process bus; the others override what they need."""

    name = "memory"

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def in_transaction(self, session: AsyncSession, ids: frozenset[int]) -> None:
        """Called just before the changing transaction commits."""

    async def after_commit(self, ids: frozenset[int]) -> None:
        """Called once the changing transaction has committed."""
        if self._deliver is not None:
            self._deliver(ids)


class _Listening(Bus):
    """A bus with a listener task that reconnects on its own."""

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self, deliver: Deliver) -> None:
        await super().start(deliver)
        self._task = asyncio.create_task(self._keep_listening(deliver))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await super().stop()

    async def after_commit(self, ids: frozenset[int]) -> None:
        """Delivery comes back through the listener, as for every other process."""

    async def _keep_listening(self, deliver: Deliver) -> None:
        first = True
        while True:
            try:
                await self._listen(deliver, resumed=not first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: report, wait, reconnect
                log.warning(
                    "%s change bus unreachable (%s); retrying", self.name, type(exc).__name__
                )
            self.connected.clear()
            first = False
            await asyncio.sleep(RECONNECT_DELAY)

    async def _listen(self, deliver: Deliver, *, resumed: bool) -> None:
        raise NotImplementedError


class PostgresBus(_Listening):
    name = "postgresql"

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    async def in_transaction(self, session: AsyncSession, ids: frozenset[int]) -> None:
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": encode(ids)},
        )

    async def _listen(self, deliver: Deliver, *, resumed: bool) -> None:
        connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            deliver(decode(payload))

        try:
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(CHANNEL, on_notify)
            self.connected.set()
            if resumed:
                deliver(None)
            while not lost.is_set():
                # A dead peer is only noticed when we talk to it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=10)
                if not lost.is_set():
                    await asyncio.wait_for(connection.execute("SELECT 1"), timeout=10)
            raise ConnectionError("listener connection closed")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=2)


class RedisBus(_Listening):
    name = "redis"

    def __init__(self, redis_url: str) -> None:
        super().__init__()
        self._url = redis_url
        self._client: aioredis.Redis | None = None

    async def start(self, deliver: Deliver) -> None:
        self._client = aioredis.Redis.from_url(self._url, socket_timeout=PUBLISH_TIMEOUT)
        await super().start(deliver)

    async def stop(self) -> None:
        await super().stop()
        if self._client is not None:
            await self._client.aclose()

    async def after_commit(self, ids: frozenset[int]) -> None:
        if self._client is None:
            return
        try:
            await asyncio.wait_for(self._client.publish(CHANNEL, encode(ids)), PUBLISH_TIMEOUT)
        except Exception as exc:  # the change is committed; resync will show it
            log.warning("could not announce a change on redis (%s)", type(exc).__name__)

    async def _listen(self, deliver: Deliver, *, resumed: bool) -> None:
        client = aioredis.Redis.from_url(self._url, health_check_interval=10)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            self.connected.set()
            if resumed:
                deliver(None)
            while True:
                # health_check_interval makes redis-py ping an idle connection, so a dead
                # server surfaces here as an error rather than as silence.
                message = await pubsub.get_message(timeout=10.0)
                if message is None or message.get("type") != "message":
                    continue
                data = message.get("data")
                if isinstance(data, bytes):
                    deliver(decode(data.decode("ascii", "replace")))
        finally:
            with contextlib.suppress(Exception):
                # Older redis-py releases leave aclose unannotated; naming its type here
                # keeps the call checked whichever release is installed.
                close_pubsub: Callable[[], Awaitable[object]] = pubsub.aclose
                await close_pubsub()
                await client.aclose()


def bus_for(settings: Settings) -> Bus:
    backend = settings.resolved_live_backend
    if backend == "postgresql":
        return PostgresBus(settings.resolved_database_url)
    if backend == "redis":
        return RedisBus(settings.redis_url)
    return Bus()
