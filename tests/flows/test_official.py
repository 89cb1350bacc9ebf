"""Organisers name the official petition beside theirs (the Sénat's e-petition): its link, its
threshold and deadline, and its count, typed by hand or read by our server from a JSON feed —
here a real HTTP server on loopback. Visitors see that count with its date; signers who have
just confirmed are asked to sign there too."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta

import httpx
from babel.numbers import format_decimal
from sqlalchemy import select

from petition import dates, jobs
from petition.db import SessionFactory
from petition.live import iso
from petition.models import AuditEntry, Campaign, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
BOARD = f"/dashboard/c/{SLUG}/official"
EDITOR = "editrice@collectif-sante.org"
OWNER = "proprietaire@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
OFFICIAL_URL = "https://petitions.senat.fr/initiatives/i-1234"
PLATFORM = "Sénat — e-pétitions"
# Read often, so that the clock moves less than an organiser's idle timeout between readings.
FEED_MINUTES = 5


@dataclass
class Feed:
    """A JSON feed on 127.0.0.1: what it answers is set by the test; `stop` takes it down."""

    status: int = 200
    body: bytes = b""
    location: str = ""  # a redirect's target
    requests: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)
    port: int = 0

    def answer(self, document: object, status: int = 200, location: str = "") -> None:
        self.status, self.location = status, location
        self.body = document if isinstance(document, bytes) else json.dumps(document).encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/petitions/1234.json"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                head = (
                    f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(self.body)}\r\nConnection: close\r\n"
                    + (f"Location: {self.location}\r\n" if self.location else "")
                    + "\r\n"
                )
                writer.write(head.encode() + self.body)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@contextlib.asynccontextmanager
async def feed_server() -> AsyncIterator[Feed]:
    feed = Feed()
    feed.server = await asyncio.start_server(feed.handle, "127.0.0.1", 0)
    feed.port = feed.server.sockets[0].getsockname()[1]
    try:
        yield feed
    finally:
        await feed.stop()


async def _members(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, clock: FakeClock, hash_: str
) -> None:
    for email, role in ((EDITOR, Role.EDITOR), (OWNER, Role.OWNER), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=email, name=email.split("@")[0], password_hash=hash_, now=clock(),
        )  # fmt: skip


def _settings_form(**changes: str) -> dict[str, str]:
    form = {
        "url": OFFICIAL_URL,
        "platform": PLATFORM,
        "threshold": "100000",
        "deadline": "2027-06-03",
        "reminder_days": "7",
        "feed_url": "",
        "feed_field": "",
    }
    form.update(changes)
    return form


async def _post(browser: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    token = csrf_of(await browser.get(BOARD))
    return await browser.post(path, data={"_csrf_token": token, **data})


async def _campaign(sessions: SessionFactory) -> Campaign:
    async with sessions() as session:
        found = await session.scalar(select(Campaign).where(Campaign.slug == SLUG))
        assert found is not None
        return found


async def _read_by_the_job(server: LiveServer) -> bool:
    period = timedelta(minutes=server.services.settings.official_feed_minutes)
    return await jobs.run_if_due(server.services, "official_counts", period, jobs.official_counts)


def _fr(number: int) -> str:
    return format_decimal(number, locale="fr")


async def test_the_feed_is_read_and_its_count_shown_with_its_date_on_the_page_and_in_the_api(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _members(sessions, settings, campaign, clock, password_hash)
    async with (
        feed_server() as feed,
        serve(replace(settings, official_feed_minutes=FEED_MINUTES), clock) as server,
    ):
        feed.answer({"data": {"signatures": 124310, "title": "Santé"}})
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            form = _settings_form(feed_url=feed.url, feed_field="data.signatures")
            assert (await _post(editor, BOARD, form)).status_code == 303
            unread = await editor.get(BOARD)
            assert "Le flux n’a pas encore été lu" in unread.text
            assert 'aria-current="page">Pétition officielle<' in unread.text

            read_at = clock()
            assert await _read_by_the_job(server)
            assert feed.requests == 1
            assert not await _read_by_the_job(server)  # once per period, however often asked

            board = await editor.get(BOARD)
            when = dates.long_datetime(read_at, "fr", settings.timezone)
            assert f"{_fr(124310)} signatures, au {when}" in board.text
            assert "lu dans le flux" in board.text and "Lire maintenant" in board.text

        async with server.client() as visitor:
            page = await visitor.get(f"/c/{SLUG}")
            day = dates.long_date(read_at, "fr", settings.timezone)
            assert f"{_fr(124310)} signatures sur {PLATFORM}, au {day}" in page.text
            assert '<progress max="100000" value="124310"' not in page.text  # capped at the max
            assert '<progress max="100000" value="100000"' in page.text
            assert f"Il lui faut {_fr(100000)} signatures." in page.text
            assert "Signatures là-bas jusqu’au 3 juin 2027 inclus." in page.text
            assert f'<a href="{OFFICIAL_URL}" rel="noopener">' in page.text
            # The visitor's browser is sent nowhere near the feed: only our server reads it.
            assert str(feed.port) not in page.text and "1234.json" not in page.text

            detail = (await visitor.get(f"/api/v1/campaigns/{SLUG}")).json()
            assert detail["official"] == {
                "url": OFFICIAL_URL,
                "platform": PLATFORM,
                "threshold": 100000,
                "deadline": "2027-06-03T22:00:00Z",  # midnight after its last day, in Paris
                "count": 124310,
                "count_at": iso(read_at),
            }
    stored = await _campaign(sessions)
    assert (stored.official_count_source, stored.official_feed_error) == ("feed", None)
    assert stored.official_reminder_days == 7


async def test_a_failing_feed_keeps_the_last_count_and_tells_organisers_why(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _members(sessions, settings, campaign, clock, password_hash)
    async with (
        feed_server() as feed,
        serve(replace(settings, official_feed_minutes=FEED_MINUTES), clock) as server,
    ):
        feed.answer({"results": [{"count": 98765}]})
        async with server.client() as editor, server.client() as visitor:
            await login(editor, EDITOR, PASSWORD)
            form = _settings_form(feed_url=feed.url, feed_field="results.0.count")
            assert (await _post(editor, BOARD, form)).status_code == 303
            good_at = clock()
            assert (await _post(editor, f"{BOARD}/read", {})).status_code == 303  # read it now
            shown = f"{_fr(98765)} signatures sur {PLATFORM}, au "
            shown += dates.long_date(good_at, "fr", settings.timezone)

            failures = [
                ("status", "Le flux a répondu par une erreur. (HTTP 500)"),
                ("json", "Le flux n’est pas du JSON valide."),
                ("field", "Le flux n’a pas ce champ. (results.0.count)"),
                ("number", "La valeur du flux à cet endroit n’est pas un nombre entier"),
                ("large", "Le flux dépasse 1 Mio."),
                ("redirect", "Le flux redirige vers une adresse qui n’est ni http ni https."),
                ("down", "Le flux n’a pas pu être joint."),
            ]
            for kind, message in failures:
                clock.advance(minutes=FEED_MINUTES + 1)
                if kind == "status":
                    feed.answer({"error": "maintenance"}, status=500)
                elif kind == "json":
                    feed.answer(b"<html>Maintenance</html>")
                elif kind == "field":
                    feed.answer({"results": []})
                elif kind == "number":
                    feed.answer({"results": [{"count": "beaucoup"}]})
                elif kind == "large":
                    feed.answer({"results": [{"count": 1}], "padding": "x" * 1024 * 1024})
                elif kind == "redirect":
                    feed.answer(b"", status=302, location="file:///etc/passwd")
                else:
                    await feed.stop()
                if kind in ("status", "down"):
                    assert await _read_by_the_job(server)
                else:
                    assert (await _post(editor, f"{BOARD}/read", {})).status_code == 303
                board = await editor.get(BOARD)
                assert "La dernière lecture a échoué" in board.text, kind
                assert message in board.text.replace("\xa0", " "), kind
                when = dates.long_datetime(clock(), "fr", settings.timezone)
                assert f"Flux lu pour la dernière fois le {when}." in board.text, kind
                stored = await _campaign(sessions)
                assert (stored.official_count, stored.official_count_at) == (98765, good_at)
                public = await visitor.get(f"/c/{SLUG}")
                assert shown in public.text, kind  # the last count known, with its own date
                assert "échoué" not in public.text and "flux" not in public.text.lower()
                assert (await visitor.get(f"/api/v1/campaigns/{SLUG}")).json()["official"][
                    "count_at"
                ] == iso(good_at)

    stored = await _campaign(sessions)
    assert stored.official_feed_error is not None and stored.official_count == 98765


async def test_a_count_typed_by_hand_is_dated_and_audited(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _members(sessions, settings, campaign, clock, password_hash)
    async with serve(replace(settings, official_feed_minutes=FEED_MINUTES), clock) as server:
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            assert (await _post(editor, BOARD, _settings_form())).status_code == 303
            first_at = clock()
            typed = await _post(editor, f"{BOARD}/count", {"count": "120 000"})
            assert typed.status_code == 303
            clock.advance(minutes=20)  # within the organiser's idle timeout
            second_at = clock()
            typed = await _post(editor, f"{BOARD}/count", {"count": "124310"})
            assert typed.status_code == 303
            board = await editor.get(BOARD)
            when = dates.long_datetime(second_at, "fr", settings.timezone)
            assert f"{_fr(124310)} signatures, au {when}" in board.text
            assert "saisi à la main" in board.text
        async with server.client() as visitor:
            page = await visitor.get(f"/c/{SLUG}")
            day = dates.long_date(second_at, "fr", settings.timezone)
            assert f"{_fr(124310)} signatures sur {PLATFORM}, au {day}" in page.text
        async with server.client() as owner:
            await login(owner, OWNER, PASSWORD)
            log = await owner.get(f"/dashboard/c/{SLUG}/audit")
            assert "a saisi le décompte de la pétition officielle" in log.text
            assert "a modifié les réglages de la pétition officielle" in log.text
    async with sessions() as session:
        entries = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.details, AuditEntry.created_at)
                .where(AuditEntry.action == "official count")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(a, d) for a, d, _at in entries] == [
        ("official count", {"after": 120000}),
        ("official count", {"before": 120000, "after": 124310}),
    ]
    assert [at for _a, _d, at in entries] == [first_at, second_at]
    stored = await _campaign(sessions)
    assert (stored.official_count, stored.official_count_at) == (124310, second_at)
    assert stored.official_count_source == "organiser"


async def test_bad_settings_or_count_are_explained_by_their_field_and_change_nothing(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _members(sessions, settings, campaign, clock, password_hash)
    async with serve(replace(settings, official_feed_minutes=FEED_MINUTES), clock) as server:
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            assert (await _post(editor, BOARD, _settings_form())).status_code == 303
            assert (await _post(editor, f"{BOARD}/count", {"count": "5000"})).status_code == 303
            before = await _campaign(sessions)

            bad = _settings_form(
                url="ftp://petitions.senat.fr/i-1234",
                threshold="-100",
                platform="Assemblée",
                feed_url="file:///etc/passwd",
                feed_field="data..count",
            )
            refused = await _post(editor, BOARD, bad)
            assert refused.status_code == 422
            text = refused.text.replace("\xa0", " ")
            assert "Rien n’a été enregistré" in text
            for name in ("url", "threshold", "feed_url", "feed_field"):
                assert f'id="{name}-error"' in text, name
                assert f'aria-describedby="{name}-hint {name}-error"' in text or (
                    f'aria-describedby="{name}-error"' in text
                ), name
            assert "Indiquez une adresse commençant par http:// ou https://." in text
            assert "Indiquez un nombre entier supérieur à zéro, ou laissez vide." in text
            assert 'value="Assemblée"' in text  # what was typed stays in the form

            no_path = _settings_form(feed_url="https://petitions.senat.fr/api/1234.json")
            refused = await _post(editor, BOARD, no_path)
            assert refused.status_code == 422 and 'id="feed_field-error"' in refused.text

            for count in ("-3", "beaucoup", ""):
                wrong = await _post(editor, f"{BOARD}/count", {"count": count})
                assert wrong.status_code == 422, count
                assert 'id="count-error"' in wrong.text
                assert "Indiquez un nombre entier, 0 ou plus." in wrong.text.replace("\xa0", " ")

        async with server.client() as viewer:
            await login(viewer, VIEWER, PASSWORD)
            assert (await viewer.get(BOARD)).status_code == 403
            denied = await viewer.post(
                f"{BOARD}/count",
                data={"_csrf_token": csrf_of(await viewer.get("/organiser/login")), "count": "1"},
            )
            assert denied.status_code == 403

    after = await _campaign(sessions)
    for name in (
        "official_url", "official_platform", "official_threshold", "official_deadline",
        "official_feed_url", "official_feed_field", "official_count", "official_count_at",
    ):  # fmt: skip
        assert getattr(after, name) == getattr(before, name), name
    async with sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["official petition", "official count"]


async def test_after_confirming_signers_are_asked_to_sign_the_official_petition_too(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    smtp: SmtpSink,
    password_hash: str,
) -> None:
    await _members(sessions, settings, campaign, clock, password_hash)
    async with serve(replace(settings, official_feed_minutes=FEED_MINUTES), clock) as server:
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            assert (await _post(editor, BOARD, _settings_form())).status_code == 303
        async with server.client() as browser:
            page = await browser.get(f"/c/{SLUG}")
            assert "La pétition officielle" in page.text and OFFICIAL_URL in page.text
            assert 'class="official-count"' not in page.text  # no count known yet: none shown
            assert (await sign(browser, SLUG, signer())).status_code == 303
            [mail] = await smtp.wait_for(1)
            pressed = await press(browser, link(mail, "confirm"))
            assert pressed.status_code == 303
            confirmed = await browser.get(pressed.headers["location"])
            assert "Signez-la aussi" in confirmed.text
            call = f"Signer la pétition officielle sur {PLATFORM}"
            assert f'href="{OFFICIAL_URL}" rel="noopener">{call}<' in confirmed.text
            detail = (await browser.get(f"/api/v1/campaigns/{SLUG}")).json()
            assert detail["official"]["count"] is None and detail["official"]["count_at"] is None
