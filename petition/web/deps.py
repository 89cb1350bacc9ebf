"""What handlers receive: the services built once by create_app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from babel.support import NullTranslations
from jinja2 import Environment
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petition import mail
from petition.db import SessionFactory
from petition.outbox import Sender
from petition.settings import Settings
from petition.signing import Links, SigningContext


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    sessions: SessionFactory
    pages: Environment
    mails: Environment
    catalogs: Mapping[str, NullTranslations]
    secret: bytes
    clock: Callable[[], datetime]
    sender: Sender
    # Called after personal data were erased, to leave no copy in the database's files.
    scrub: Callable[[], Awaitable[None]]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One request, one transaction: committed before the response leaves, or rolled back."""
        async with self.sessions() as session, session.begin():
            yield session

    def signing_context(self) -> SigningContext:
        return SigningContext(
            secret=self.secret,
            now=self.clock(),
            token_ttl=timedelta(days=self.settings.token_ttl_days),
            mail_cap=self.settings.mail_per_address_per_day,
            links=Links(self.settings.public_url),
            render_mail=self.render_mail,
        )

    def render_mail(self, name: str, locale: str, context: dict[str, object]) -> mail.RenderedMail:
        return mail.render(
            self.mails, self.catalogs, name, locale, {**context, "tz": self.settings.timezone}
        )


# How handlers ask for the services: by name, as Litestar 3 will require.
ServicesDep: TypeAlias = NamedDependency[Services]
