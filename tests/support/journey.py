"""What a signer does in a browser, as small steps the flow tests compose."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import date
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx

from petition import campaigns
from petition.db import SessionFactory
from petition.models import Campaign, CampaignKind
from tests.support.clock import FakeClock

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
_COUNT = re.compile(r'data-count="(\d+)"')


async def make_campaign(
    sessions: SessionFactory,
    clock: FakeClock,
    *,
    slug: str = "mission-sante",
    closes: date | None = None,
    required: tuple[str, ...] = (),
) -> Campaign:
    spec = campaigns.CampaignSpec(
        slug=slug,
        title="Pour une mission de contrôle sur les données de santé",
        kind=CampaignKind.PETITION,
        goal=1000,
        closes=closes,
        body_markdown="Nous demandons une **mission de contrôle**.",
        required_fields=required,
    )
    async with sessions() as session, session.begin():
        return await campaigns.create(session, spec, now=clock(), tz="Europe/Paris")


def signer(email: str = "marie.curie@example.org", **overrides: str) -> dict[str, str]:
    fields = {
        "first_name": "Marie",
        "last_name": "Curie",
        "role": "Médecin DIM",
        "organisation": "CHU de Lyon",
        "email": email,
        "consent": "yes",
    }
    fields.update(overrides)
    return fields


_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def csrf_of(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def sign(client: httpx.AsyncClient, slug: str, fields: dict[str, str]) -> httpx.Response:
    """Open the campaign page, fill the form, submit it (without following the redirect),
    as a browser without JavaScript does: with the form's hidden fields, trap left empty."""
    page = await client.get(f"/c/{slug}")
    assert page.status_code == 200
    return await client.post(f"/c/{slug}", data={**hidden_fields(page), **fields})


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    """What a browser sends of a page's form without the person typing anything."""
    found = dict(_HIDDEN.findall(page.text))
    found.setdefault("website", "")
    return found


def link(message: EmailMessage, kind: str) -> str:
    """The path of the /confirm/ or /withdraw/ link in a mail's plain-text part."""
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    match = re.search(rf"https?://\S+/{kind}/\S+", text)
    assert match, f"no {kind} link in: {text}"
    return urlsplit(match.group(0)).path


async def press(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """Open a mailed link and press the page's button."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={"_csrf_token": csrf_of(page)})


async def displayed_count(client: httpx.AsyncClient, slug: str) -> int:
    page = await client.get(f"/c/{slug}")
    match = _COUNT.search(page.text)
    assert match, "the page shows no count"
    return int(match.group(1))


async def settled_count(
    client: httpx.AsyncClient, slug: str, expected: int, *, within: float = 20.0
) -> int:
    """The count a page shows once what other processes did has reached this one (each
    reads the database again when told of a change, or every `live_resync` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    shown = await displayed_count(client, slug)
    while shown != expected and loop.time() < deadline:
        await asyncio.sleep(0.1)
        shown = await displayed_count(client, slug)
    return shown


async def press_later(
    client: httpx.AsyncClient, path: str
) -> Callable[[], Awaitable[httpx.Response]]:
    """Open a mailed link's page now (cookie and CSRF token); return the press to fire later."""
    token = csrf_of(await client.get(path))

    async def fire() -> httpx.Response:
        return await client.post(path, data={"_csrf_token": token})

    return fire
