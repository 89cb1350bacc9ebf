"""What the public side shows: campaigns in any state, published signatures, polling the API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any, TypeVar

import httpx

from petition import campaigns, counts, tokens
from petition.db import SessionFactory
from petition.models import Campaign, CampaignKind, Publication, Signature, SignatureStatus
from tests.support.clock import FakeClock

T = TypeVar("T")
SECRET = b"public-tests-have-no-secret-worth-keeping"


async def campaign_on(
    sessions: SessionFactory,
    clock: FakeClock,
    slug: str,
    *,
    title: str = "Une lettre ouverte",
    kind: CampaignKind = CampaignKind.PETITION,
    goal: int | None = 500,
    opens: date | None = None,
    closes: date | None = None,
) -> Campaign:
    """A campaign as an organiser creates it: opening and closing days in Paris time."""
    spec = campaigns.CampaignSpec(
        slug=slug,
        title=title,
        kind=kind,
        goal=goal,
        opens=opens,
        closes=closes,
        body_markdown="Texte de la campagne.",
    )
    async with sessions() as session, session.begin():
        return await campaigns.create(session, spec, now=clock(), tz="Europe/Paris")


async def signatures(
    sessions: SessionFactory,
    campaign: Campaign,
    rows: Sequence[tuple[str, str, Publication, SignatureStatus, datetime]],
    *,
    role: str | None = "Infirmière",
    organisation: str | None = "CHU de Nantes",
) -> None:
    """Signatures (first name, last name, publication, status, instant) in one transaction,
    the confirmed ones counted as the application counts them."""
    async with sessions() as session, session.begin():
        for first, last, publication, status, at in rows:
            address = f"{first}.{last}@example.org".lower()
            session.add(
                Signature(
                    campaign_id=campaign.id,
                    status=status,
                    email_hash=tokens.email_hash(SECRET, address),
                    first_name=first,
                    last_name=last,
                    role=role,
                    organisation=organisation,
                    email_domain="example.org",
                    publication=publication,
                    locale="fr",
                    consent_version="test",
                    consented_at=at,
                    created_at=at,
                    confirmed_at=at if status is SignatureStatus.CONFIRMED else None,
                )
            )
        confirmed = sum(1 for *_, status, _at in rows if status is SignatureStatus.CONFIRMED)
        if confirmed:
            await counts.add(session, campaign.id, confirmed)


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 3.0
) -> T:
    """Ask again until `check` holds: live counts follow a change within about a second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"still {value!r} after {within}s")
        await asyncio.sleep(0.1)


async def api(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


async def api_count(client: httpx.AsyncClient, slug: str) -> int:
    detail = await api(client, f"/api/v1/campaigns/{slug}")
    count: int = detail["campaign"]["count"]
    return count


class _Tags(HTMLParser):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.name:
            self.found.append(dict(attrs))


def tags(page: str, name: str) -> list[dict[str, str | None]]:
    """The attributes of every `name` element of a page, in order."""
    parser = _Tags(name)
    parser.feed(page)
    parser.close()
    return parser.found


def meta(page: str, prop: str) -> str | None:
    """The content of <meta property=prop> (OpenGraph) or <meta name=prop>."""
    for attrs in tags(page, "meta"):
        if prop in (attrs.get("property"), attrs.get("name")):
            return attrs.get("content")
    return None
