"""Organisers give their campaign milestones — 5 signatures: the Sénat's threshold — and are
each told once by mail when the count reaches one, however confirmations race and however many
checks run at once; the public page shows progress toward the next one with its meaning, and
the reached ones with their date, as does the API."""

from __future__ import annotations

import asyncio
import dataclasses
import html
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage

import httpx
from babel.numbers import format_decimal
from sqlalchemy import select, update

from petition import dates, jobs, milestones
from petition.db import SessionFactory
from petition.live import iso
from petition.models import AuditEntry, Campaign, Milestone, Organiser, Role, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
BOARD = f"/dashboard/c/{SLUG}/milestones"
OWNER = "proprietaire@collectif-sante.org"
EDITOR = "editrice@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
SENATE = {"threshold": "5", "label_fr": "Seuil du Sénat", "label_en": "The Senate's threshold"}
NATIONAL = {"threshold": "100", "label_fr": "Objectif national", "label_en": ""}


def _fr(number: int) -> str:
    return format_decimal(number, locale="fr")


async def _team(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, clock: FakeClock, hash_: str
) -> None:
    """Three organisers, each with the address they were added with kept for such news."""
    for email, role in ((OWNER, Role.OWNER), (EDITOR, Role.EDITOR), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=email, name=email.split("@")[0], password_hash=hash_, now=clock(),
        )  # fmt: skip


async def _confirmed(
    sessions: SessionFactory, campaign: Campaign, clock: FakeClock, n: int
) -> None:
    for i in range(n):
        await factories.signature(
            sessions, campaign, status=SignatureStatus.CONFIRMED, at=clock(),
            first_name=f"Déjà{i}", email=f"deja{i}@example.org",
        )  # fmt: skip


@asynccontextmanager
async def _site(
    settings: Settings, clock: FakeClock, *, check_seconds: float = 0
) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient]]:
    """The site, its scheduled check left to the test unless asked, and the editor signed in."""
    chosen = dataclasses.replace(settings, milestones_check_seconds=check_seconds)
    async with serve(chosen, clock) as server, server.client() as editor:
        assert (await login(editor, EDITOR, PASSWORD)).status_code == 303
        yield server, editor


async def _post(browser: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    token = csrf_of(await browser.get(BOARD))
    return await browser.post(path, data={"_csrf_token": token, **data})


async def _ident(sessions: SessionFactory, threshold: int) -> int:
    async with sessions() as session:
        found = await session.scalar(select(Milestone.id).where(Milestone.threshold == threshold))
        assert found is not None
        return found


async def _check_in(server: LiveServer) -> list[milestones.Reached]:
    """One check, in a transaction of the site's own (as the job's), alongside others."""
    services = server.services
    async with services.transaction() as session:
        return await milestones.check(
            session, services.clock(), secret=services.secret,
            public_url=services.settings.public_url,
        )  # fmt: skip


async def _by_the_job(server: LiveServer) -> bool:
    period = timedelta(seconds=15)
    return await jobs.run_if_due(server.services, "milestones", period, jobs.check_milestones)


def _about_milestones(smtp: SmtpSink) -> list[EmailMessage]:
    return [m for m in smtp.messages if "a atteint" in str(m["Subject"])]


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def test_racing_confirmations_and_concurrent_checks_tell_each_organiser_once(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    smtp: SmtpSink,
    password_hash: str,
) -> None:
    await _team(sessions, settings, campaign, clock, password_hash)
    await _confirmed(sessions, campaign, clock, 3)
    async with _site(settings, clock) as (server, editor):
        assert (await _post(editor, BOARD, SENATE)).status_code == 303
        assert (await _post(editor, BOARD, NATIONAL)).status_code == 303
        assert await _check_in(server) == []  # 3 of 5: nothing yet

        signers = [f"soignant{n}@example.org" for n in range(8)]
        async with server.client() as browser:
            for address in signers:
                assert (await sign(browser, SLUG, signer(address))).status_code == 303
        await smtp.wait_for(len(signers))
        links = [link(smtp.to(address)[0], "confirm") for address in signers]

        async def confirm(path: str) -> None:
            async with server.client() as browser:
                assert (await press(browser, path)).status_code == 303

        done = asyncio.Event()
        claims: list[milestones.Reached] = []

        async def keep_checking() -> None:  # two checks at a time, all along the race
            while not done.is_set():
                for found in await asyncio.gather(_check_in(server), _check_in(server)):
                    claims.extend(found)
                await asyncio.sleep(0.01)

        checking = asyncio.create_task(keep_checking())
        await asyncio.gather(*(confirm(path) for path in links))
        done.set()
        await checking
        claims.extend(await _check_in(server))
        claims.extend(await _check_in(server))

        assert [(c.threshold, c.mails) for c in claims] == [(5, 3)]  # one claim, three told
        told = await smtp.wait_for(len(signers) + 3)
        await asyncio.sleep(1)  # a second mail, if any, would have come by now
        mails = _about_milestones(smtp)
        assert Counter(str(m["To"]) for m in mails) == {OWNER: 1, EDITOR: 1, VIEWER: 1}
        assert len(smtp.messages) == len(told)
        subject = str(mails[0]["Subject"])
        assert (
            subject
            == "« Pour une mission de contrôle sur les données de santé » a atteint 5 signatures"
        )
        text = _text(mails[0])
        assert "Ce palier : Seuil du Sénat" in text
        assert f"{settings.public_url}/dashboard/c/{SLUG}/milestones" in text

        reached_on = dates.long_date(clock(), "fr", settings.timezone)
        async with server.client() as visitor:
            page = html.unescape((await visitor.get(f"/c/{SLUG}")).text)
            english = html.unescape((await visitor.get(f"/c/{SLUG}?lang=en")).text)
            detail = (await visitor.get(f"/api/v1/campaigns/{SLUG}")).json()
            in_english = await visitor.get(
                f"/api/v1/campaigns/{SLUG}", headers={"Accept-Language": "en-GB,en;q=0.8"}
            )
        assert "Paliers atteints" in page
        assert f"5 signatures, atteint le {reached_on} — Seuil du Sénat" in page
        assert "Prochain palier : 100 — Objectif national" in page
        assert '<progress data-live-progress max="100" value="11"' in page
        assert "5 signatures, reached on" in english and "The Senate's threshold" in english
        # Given in French only: shown so, marked as French for screen readers.
        assert 'Next milestone: 100 — <span lang="fr">Objectif national</span>' in english
        assert detail["campaign"]["count"] == 11
        assert detail["milestones"] == [
            {"threshold": 5, "label": "Seuil du Sénat", "reached_at": iso(clock())},
            {"threshold": 100, "label": "Objectif national", "reached_at": None},
        ]
        assert [m["label"] for m in in_english.json()["milestones"]] == [
            "The Senate's threshold",
            "Objectif national",
        ]
        assert "Accept-Language" in in_english.headers["vary"]

        board = html.unescape((await editor.get(BOARD)).text)
        assert reached_on in board
        # Reached, it stays: organisers were told of it.
        five = await _ident(sessions, 5)
        refused = await _post(editor, f"{BOARD}/{five}/remove", {})
        assert refused.status_code == 422
        assert "il reste" in html.unescape(refused.text)


async def test_two_checks_at_once_in_two_transactions_claim_a_milestone_once(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    smtp: SmtpSink,
    password_hash: str,
) -> None:
    """The second check waits for the first (PostgreSQL: on the row, having read it unreached;
    SQLite: for the write lock); once the first has committed, its UPDATE changes nothing."""
    await _team(sessions, settings, campaign, clock, password_hash)
    await _confirmed(sessions, campaign, clock, 6)
    async with _site(settings, clock) as (_server, editor):
        assert (await _post(editor, BOARD, SENATE)).status_code == 303

        async def check() -> list[milestones.Reached]:
            async with sessions() as session, session.begin():
                return await milestones.check(
                    session, clock(), secret=settings.load_secret_key(),
                    public_url=settings.public_url,
                )  # fmt: skip

        async with sessions() as first, first.begin():
            ours = await milestones.check(
                first, clock(), secret=settings.load_secret_key(), public_url=settings.public_url
            )
            other = asyncio.create_task(check())
            await asyncio.sleep(0.5)
            assert not other.done()  # held until the first commits
        theirs = await other
        assert [(r.threshold, r.mails) for r in ours] == [(5, 3)] and theirs == []
        await smtp.wait_for(3)
        await asyncio.sleep(1)
        assert Counter(str(m["To"]) for m in _about_milestones(smtp)) == {
            OWNER: 1,
            EDITOR: 1,
            VIEWER: 1,
        }


async def test_the_page_shows_progress_toward_the_next_milestone_with_its_meaning(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    await _team(sessions, settings, campaign, clock, password_hash)
    await _confirmed(sessions, campaign, clock, 3)
    async with _site(settings, clock) as (server, editor):
        for form in (NATIONAL, SENATE):
            assert (await _post(editor, BOARD, form)).status_code == 303
        async with server.client() as visitor:
            page = html.unescape((await visitor.get(f"/c/{SLUG}")).text)
            english = html.unescape((await visitor.get(f"/c/{SLUG}?lang=en")).text)
            detail = (await visitor.get(f"/api/v1/campaigns/{SLUG}?lang=en")).json()
    assert "Prochain palier : 5 — Seuil du Sénat" in page
    assert '<progress data-live-progress max="5" value="3"' in page
    assert 'aria-label="Progression vers le prochain palier"' in page
    assert "Paliers atteints" not in page
    assert "Next milestone: 5 — The Senate's threshold" in english
    assert detail["milestones"] == [
        {"threshold": 5, "label": "The Senate's threshold", "reached_at": None},
        {"threshold": 100, "label": "Objectif national", "reached_at": None},
    ]


async def test_editors_add_change_and_remove_milestones_each_audited_and_checked(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    smtp: SmtpSink,
    password_hash: str,
) -> None:
    """Bad input is refused field by field; one added below the count is reached by the next
    check, which the site runs by itself."""
    await _team(sessions, settings, campaign, clock, password_hash)
    await _confirmed(sessions, campaign, clock, 12)
    async with _site(settings, clock, check_seconds=0.4) as (server, editor):
        page = await editor.get(BOARD)
        assert page.status_code == 200 and "Aucun palier pour l'instant." in page.text
        assert f'href="{BOARD}" aria-current="page"' in page.text  # the section's own item

        bad = await _post(editor, BOARD, {"threshold": "0", "label_fr": "", "label_en": ""})
        assert bad.status_code == 422
        shown = html.unescape(bad.text)
        assert "Indiquez un nombre entier supérieur à zéro." in shown
        assert "Dites ce qu'il signifie, en français ou en anglais." in shown
        assert (
            'id="threshold" name="threshold" value="0" inputmode="numeric" aria-invalid="true"'
            in bad.text
        )
        assert 'aria-describedby="threshold-hint threshold-error"' in bad.text

        assert (await _post(editor, BOARD, {**NATIONAL, "threshold": "100 000"})).status_code == 303
        again = await _post(editor, BOARD, {**NATIONAL, "threshold": "100000"})
        assert again.status_code == 422
        assert "Cette campagne a déjà un palier à ce nombre." in html.unescape(again.text)

        hundred_thousand = await _ident(sessions, 100_000)
        changed = await _post(
            editor, f"{BOARD}/{hundred_thousand}",
            {"label_fr": "Seuil du Sénat", "label_en": "The Senate's threshold"},
        )  # fmt: skip
        assert changed.status_code == 303
        empty = await _post(editor, f"{BOARD}/{hundred_thousand}", {"label_fr": "", "label_en": ""})
        assert empty.status_code == 422
        assert f'id="label_fr-{hundred_thousand}"' in empty.text and "aria-invalid" in empty.text

        assert (await _post(editor, BOARD, {**SENATE, "threshold": "10"})).status_code == 303
        ten = await _ident(sessions, 10)
        clock.advance(seconds=1)  # the job's period, by the site's clock
        for _ in range(50):  # the site's own check comes within its period
            async with sessions() as session:
                if await session.scalar(select(Milestone.reached_at).where(Milestone.id == ten)):
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the milestone below the count was not reached")
        await smtp.wait_for(3)

        assert (await _post(editor, BOARD, {**SENATE, "threshold": "50"})).status_code == 303
        fifty = await _ident(sessions, 50)
        assert (await _post(editor, f"{BOARD}/{fifty}/remove", {})).status_code == 303
        board = html.unescape((await editor.get(BOARD)).text)
        assert _fr(100_000) in board and "The Senate's threshold" in board
        assert ">50<" not in board and "Pas encore" in board

        async with server.client() as viewer:
            await login(viewer, VIEWER, PASSWORD)
            assert (await viewer.get(BOARD)).status_code == 403

    async with sessions() as session:
        entries = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.details).order_by(AuditEntry.id)
            )
        ).all()
    assert [(a, d) for a, d in entries if "milestone" in a] == [
        ("add milestone", {"threshold": 100_000}),
        ("change milestone", {"threshold": 100_000}),
        ("add milestone", {"threshold": 10}),
        ("add milestone", {"threshold": 50}),
        ("remove milestone", {"threshold": 50}),
    ]


async def test_an_organiser_without_a_kept_address_is_not_told_and_nothing_breaks(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    smtp: SmtpSink,
    password_hash: str,
) -> None:
    await _team(sessions, settings, campaign, clock, password_hash)
    async with sessions() as session, session.begin():
        await session.execute(  # the owner has not signed in since addresses were kept
            update(Organiser)
            .where(Organiser.name == OWNER.split("@")[0])
            .values(notify_address=None)
        )
        await session.execute(  # the viewer's was sealed by another server's secret
            update(Organiser)
            .where(Organiser.name == VIEWER.split("@")[0])
            .values(notify_address=b"\x00" * 60)
        )
    await _confirmed(sessions, campaign, clock, 5)
    async with _site(settings, clock) as (server, editor):
        assert (await _post(editor, BOARD, SENATE)).status_code == 303
        assert await _by_the_job(server)
        await smtp.wait_for(1)
        await asyncio.sleep(1)
        assert [str(m["To"]) for m in _about_milestones(smtp)] == [EDITOR]
        async with server.client() as visitor:
            page = html.unescape((await visitor.get(f"/c/{SLUG}")).text)
        assert "5 signatures, atteint le" in page
    async with sessions() as session:
        assert await session.scalar(select(Milestone.reached_at)) is not None
