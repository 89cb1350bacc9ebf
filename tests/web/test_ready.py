"""The campaign page, its count and its embeds are kept ready between changes: every visitor
still gets their own CSRF token, their language and the count of the moment."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, displayed_count, hidden_fields, link, press, signer
from tests.support.public import api_count
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
pytestmark = pytest.mark.usefixtures("campaign")
_TOKEN = re.compile(r"csrftoken=([0-9a-f]{128});")
# What differs between two answers to the same request: the moment and each visitor's token.
_UNEQUAL = {"date", "set-cookie"}


def _cookie_token(page: httpx.Response) -> str:
    match = _TOKEN.match(page.headers.get("set-cookie", ""))
    assert match, f"no CSRF cookie set: {page.headers.get('set-cookie')}"
    return match.group(1)


async def test_each_new_visitor_gets_a_token_of_their_own_that_signs(
    server: LiveServer, smtp: SmtpSink
) -> None:
    visitors = [server.client() for _ in range(4)]
    pages = [await visitor.get(f"/c/{SLUG}") for visitor in visitors]
    tokens = [csrf_of(page) for page in pages]
    assert [_cookie_token(page) for page in pages] == tokens
    assert len(set(tokens)) == 4
    for n, (visitor, page) in enumerate(zip(visitors, pages, strict=True)):
        answer = await visitor.post(
            f"/c/{SLUG}", data={**hidden_fields(page), **signer(f"visitor{n}@example.org")}
        )
        assert answer.status_code == 303
    assert len(await smtp.wait_for(4)) == 4
    for visitor in visitors:
        await visitor.aclose()


async def test_another_visitors_token_is_refused(server: LiveServer) -> None:
    async with server.client() as alice, server.client() as bob:
        alice_page = await alice.get(f"/c/{SLUG}")
        await bob.get(f"/c/{SLUG}")
        forged = await bob.post(
            f"/c/{SLUG}", data={**hidden_fields(alice_page), **signer("bob@example.org")}
        )
    assert forged.status_code == 403


async def test_a_returning_visitor_keeps_their_token_and_gets_no_new_cookie(
    server: LiveServer,
) -> None:
    async with server.client() as visitor:
        first = await visitor.get(f"/c/{SLUG}")
        again = [await visitor.get(f"/c/{SLUG}") for _ in range(3)]
    token = _cookie_token(first)
    assert [csrf_of(page) for page in again] == [token] * 3
    assert all("set-cookie" not in page.headers for page in again)


@pytest.mark.parametrize(
    "path", [f"/c/{SLUG}", f"/api/v1/campaigns/{SLUG}", f"/c/{SLUG}/widget", f"/c/{SLUG}/badge.svg"]
)
async def test_a_kept_answer_is_the_one_the_application_makes(
    server: LiveServer, path: str
) -> None:
    """A query string sends the request through the whole framework: same status, headers
    and body, but for the moment and the visitor's own token (new visitors, one each)."""

    async def visit(**params: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=server.base_url) as visitor:
            answer = await visitor.get(path, params=params)
        assert answer.status_code == 200
        return answer

    kept = [await visit() for _ in range(3)]
    made = await visit(utm_source="press")

    def comparable(answer: httpx.Response) -> tuple[object, ...]:
        headers = tuple(
            sorted((k, v) for k, v in answer.headers.multi_items() if k not in _UNEQUAL)
        )
        body = answer.text
        if "set-cookie" in answer.headers:
            body = body.replace(_cookie_token(answer), "TOKEN")
        return headers, body, "set-cookie" in answer.headers

    assert {comparable(answer) for answer in kept} == {comparable(made)}


async def test_the_page_and_the_api_show_a_confirmation_at_once(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock
) -> None:
    """The site's clock stands still: nothing but the confirmation changes the answers."""
    async with server.client() as camille, httpx.AsyncClient(base_url=server.base_url) as press_:
        assert await displayed_count(camille, SLUG) == 0
        assert await api_count(press_, SLUG) == 0
        page = await camille.get(f"/c/{SLUG}")
        answer = await camille.post(
            f"/c/{SLUG}", data={**hidden_fields(page), **signer("camille@example.org")}
        )
        assert answer.status_code == 303
        [mail] = await smtp.wait_for(1)
        assert (await press(camille, link(mail, "confirm"))).status_code == 303
        assert await displayed_count(camille, SLUG) == 1
        assert await api_count(press_, SLUG) == 1


async def test_each_language_gets_its_own_page(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as reader:
        answers: dict[str, set[str]] = {}
        for language in ["fr-FR,fr;q=0.9", "en-GB,en;q=0.8", "fr-FR,fr;q=0.9", "en-GB,en;q=0.8"]:
            page = await reader.get(f"/c/{SLUG}", headers={"Accept-Language": language})
            answers.setdefault(language, set()).add(page.headers["content-language"])
        chosen = await reader.get(f"/c/{SLUG}", headers={"Cookie": "lang=en"})
    assert answers == {"fr-FR,fr;q=0.9": {"fr"}, "en-GB,en;q=0.8": {"en"}}
    assert chosen.headers["content-language"] == "en"
