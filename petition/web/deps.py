"""What handlers receive: the services built once by create_app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias, TypeVar

from babel.support import NullTranslations
from jinja2 import Environment
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from petition import mail, published, writer
from petition.assets import Assets
from petition.brand import Brand
from petition.bus import Bus
from petition.db import SessionFactory
from petition.defences import Defences
from petition.live import Cache, Hub
from petition.memo import Memo
from petition.metrics import Metrics
from petition.organisers import SessionPolicy
from petition.outbox import Sender
from petition.passwords import Passwords
from petition.settings import Settings
from petition.signing import Links, SigningContext
from petition.throttle import LoginThrottle
from petition.web.caching import LastEncoded
from petition.writer import Together, Work, Writer

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine  # the writer's (on SQLite: its one connection)
    read_engine: AsyncEngine  # read-only connections: page views never wait for a writer
    sessions: SessionFactory
    writer: Writer  # group commit of the public write paths (signing, confirming...)
    readers: SessionFactory  # long reads (exports): never hold up signing
    # Short public reads: SQLite's read-only connections (never behind the one writer),
    # PostgreSQL's pool (a crowd must not open a connection per request).
    short_reads: SessionFactory
    pages: Environment
    render_mail: mail.Render  # every mail, by name and language (the sender's too)
    catalogs: Mapping[str, NullTranslations]
    secret: bytes
    clock: Callable[[], datetime]
    sender: Sender
    # Called after personal data were erased, to leave no copy in the database's files.
    scrub: Callable[[], Awaitable[None]]
    passwords: Passwords
    login_throttle: LoginThrottle
    bus: Bus
    hub: Hub
    breakdowns: Cache[published.Breakdown]
    letters: Cache[list[published.Group]]
    documents: Memo[tuple[str, int, str], bytes]  # rendered PDFs
    encoded: LastEncoded  # the count API's last document per campaign
    defences: Defences
    pow_widget: bool  # whether the proof-of-work widget was built (needs npm at setup)
    brand: Brand  # who runs the site, as pages and mails show it
    assets: Assets  # /static, by fingerprinted names
    metrics: Metrics  # this process's counts, for /metrics (petition.metrics)
    # Released when the process stops (beside the engines and the writer).
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One request, one transaction: committed before the response leaves, or rolled back.

        For the organisers' pages; the public write paths go through `write`, in batches.
        What it changed of a campaign shows on the next page this process serves.
        """
        hub = self.hub
        async with writer.transaction(self.sessions, self.bus, hub.counted, hub.reread) as session:
            yield session

    async def write(self, work: Work[T]) -> T:
        """Run `work` in the next group commit; its result once it is on disk."""
        return await self.writer.run(work)

    async def write_together(self, kind: Together[P, T], payload: P) -> T:
        """The same for a piece of work of a kind done together with the others of its batch."""
        return await self.writer.run_together(kind, payload)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction, which never holds up signing nor waits for it."""
        async with self.short_reads() as session, session.begin():
            yield session

    async def close(self) -> None:
        for close in self.closers:
            await close()
        self.passwords.close()
        await self.engine.dispose()
        await self.read_engine.dispose()

    @property
    def session_cookie(self) -> str:
        # __Host-: the browser refuses it unless Secure, on our own host, for the whole site.
        return "__Host-organiser" if self.settings.secure_cookies else "organiser"

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle=timedelta(minutes=self.settings.organiser_idle_minutes),
            absolute=timedelta(hours=self.settings.organiser_session_hours),
        )

    def signing_context(self, now: datetime | None = None) -> SigningContext:
        return SigningContext(
            secret=self.secret,
            now=now or self.clock(),
            token_ttl=timedelta(days=self.settings.token_ttl_days),
            mail_cap=self.settings.mail_per_address_per_day,
            links=Links(self.settings.public_url),
            render_mail=self.render_mail,
        )


# How handlers ask for the services: by name, as Litestar 3 will require.
ServicesDep: TypeAlias = NamedDependency[Services]
