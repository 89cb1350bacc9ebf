"""Bad input gets a 4xx and a clear message, and changes nothing: no row, no mail."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from petition.db import SessionFactory
from petition.models import OutboxMail, Signature
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, make_campaign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"


async def _nothing_stored(sessions: SessionFactory, smtp: SmtpSink) -> None:
    await asyncio.sleep(0.5)  # give a wrongly queued mail the time to leave
    async with sessions() as session:
        signatures = (await session.execute(select(func.count()).select_from(Signature))).scalar()
        mails = (await session.execute(select(func.count()).select_from(OutboxMail))).scalar()
    assert (signatures, mails, len(smtp.messages)) == (0, 0, 0)


@pytest.mark.parametrize(
    ("fields", "field", "message_fr"),
    [
        ({"first_name": ""}, "first_name", "Ce champ est obligatoire"),
        ({"last_name": "   "}, "last_name", "Ce champ est obligatoire"),
        ({"first_name": "M" * 10_000}, "first_name", "trop long"),
        ({"last_name": "Curie\x00"}, "last_name", "caractères"),
        ({"organisation": "CHU\u202eLyon"}, "organisation", "caractères"),
        ({"role": "=HYPERLINK(1)"}, "role", "="),
        ({"email": "not-an-address"}, "email", "adresse"),
        ({"email": "a@b"}, "email", "adresse"),
        ({"email": ""}, "email", "Ce champ est obligatoire"),
        ({"consent": ""}, "consent", "case"),
    ],
)
async def test_invalid_field_is_explained_next_to_it_and_nothing_is_stored(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    clock: FakeClock,
    fields: dict[str, str],
    field: str,
    message_fr: str,
) -> None:
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        page = await browser.get(f"/c/{SLUG}")
        answer = await browser.post(
            f"/c/{SLUG}", data={"_csrf_token": csrf_of(page), **signer(**fields)}
        )
    assert answer.status_code == 422
    assert f'id="{field}-error"' in answer.text
    assert message_fr.lower() in answer.text.lower()
    assert 'aria-invalid="true"' in answer.text or field == "consent"
    await _nothing_stored(sessions, smtp)


async def test_a_field_the_campaign_requires_is_required(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock, required=("organisation",))
    async with server.client() as browser:
        page = await browser.get(f"/c/{SLUG}")
        answer = await browser.post(
            f"/c/{SLUG}", data={"_csrf_token": csrf_of(page), **signer(organisation="")}
        )
    assert answer.status_code == 422
    assert 'id="organisation-error"' in answer.text
    await _nothing_stored(sessions, smtp)


async def test_missing_or_wrong_csrf_token_is_refused(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        await browser.get(f"/c/{SLUG}")
        missing = await browser.post(f"/c/{SLUG}", data=signer())
        wrong = await browser.post(f"/c/{SLUG}", data={"_csrf_token": "x" * 64, **signer()})
    for answer in (missing, wrong):
        assert answer.status_code == 403
        assert "Nothing was recorded" in answer.text or "Rien n’a été enregistré" in answer.text
    await _nothing_stored(sessions, smtp)


async def test_oversized_body_is_refused(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        page = await browser.get(f"/c/{SLUG}")
        answer = await browser.post(
            f"/c/{SLUG}",
            data={"_csrf_token": csrf_of(page), **signer(organisation="x" * 200_000)},
        )
    assert answer.status_code == 413
    await _nothing_stored(sessions, smtp)


async def test_unknown_campaign_says_so(server: LiveServer) -> None:
    async with server.client() as browser:
        page = await browser.get("/c/nothing-here")
        odd = await browser.get("/c/NOT%20a%20slug")
    assert page.status_code == 404
    assert odd.status_code == 404
    assert "Page introuvable" in page.text or "Page not found" in page.text


async def test_closed_campaign_shows_its_text_but_takes_no_signature(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock, closes=(clock.now.date()))
    async with server.client() as browser:
        page = await browser.get(f"/c/{SLUG}")
        assert "<form" in page.text
        clock.advance(days=2)
        closed = await browser.get(f"/c/{SLUG}")
        late = await browser.post(f"/c/{SLUG}", data={"_csrf_token": csrf_of(page), **signer()})
    assert closed.status_code == 200
    assert 'action="/c/' not in closed.text
    assert "mission de contrôle" in closed.text
    assert late.status_code == 410
    await _nothing_stored(sessions, smtp)


BEYOND_64_BITS = "99999999999999999999"


@pytest.mark.parametrize(
    "path",
    [
        f"/c/{SLUG}/privacy/{BEYOND_64_BITS}",
        f"/c/{SLUG}/privacy/0",
        f"/c/{SLUG}/privacy/{2**31}",
        f"/manage/{'a' * 43}/{BEYOND_64_BITS}/withdraw",
    ],
)
async def test_a_number_no_row_can_have_is_a_bad_request_not_a_server_error(
    path: str, server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Anyone could otherwise fill the error log at will."""
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        token = csrf_of(await browser.get(f"/c/{SLUG}"))
        answer = await browser.request(
            "POST" if path.endswith("withdraw") else "GET", path, data={"_csrf_token": token}
        )
    assert 400 <= answer.status_code < 500, (path, answer.status_code)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/static/%00", 404),
        ("/static/site.css%00.js", 404),
        (f"/c/{SLUG}%00", 404),
        (f"/c/{SLUG}/privacy%0A", 404),
        (f"/c/{SLUG}?lang=%00", 400),
        (f"/api/v1/campaigns/{SLUG}/signatories?cursor=%00", 400),
        (f"/c/{SLUG}/signatories?page=1%0D%0ASet-Cookie:x", 400),
        ("/static/" + "0" * 10_000, 404),  # longer than any file name can be
        ("/c/" + "a" * 300, 404),
        ("/manage/" + "/".join(["a" * 200] * 8), 404),
    ],
)
async def test_an_address_no_page_can_have_is_refused_not_an_error(
    target: str, status: int, server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    """No page, file, slug or search holds a control character (PostgreSQL cannot even compare a
    NUL), and no file name is longer than 255 bytes."""
    await make_campaign(sessions, clock)
    async with server.client() as browser:
        answer = await browser.get(target)
    assert answer.status_code == status
