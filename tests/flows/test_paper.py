"""Organisers record signatures gathered on paper: a counted total, or named rows from a CSV.

Both join the total everywhere (page, API, letter) and are shown apart from it; named rows are
published by the choice signed on the sheet; corrections and deletions move the count and are
in the audit log; the counts check leaves them alone; anonymisation erases paper names too.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pypdf
from sqlalchemy import func, select

from petition import journal, moderation, privacy, readers, reconcile, replay, retention
from petition.cli_keys import read_public, write_key_pair
from petition.db import SessionFactory
from petition.models import (
    AuditEntry,
    Campaign,
    Organiser,
    PaperBatch,
    Publication,
    Role,
    Signature,
    SignatureStatus,
)
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of
from tests.support.public import api, signatures
from tests.support.server import LiveServer, serve

SLUG = "mission-sante"
OWNER = "coordinatrice@collectif-sante.org"
HEADER = "first_name;last_name;role;organisation;publication;consent\n"
GOOD = (
    "\ufeff" + HEADER
    + "Lucie;Aubrac;Infirmière;CHU de Nantes;name_role_org;oui\n"  # everything published
    + "Jean;Moulin;Préfet;Préfecture;name;oui\n"  # his name only
    + "Anne;Discrète;Sage-femme;Clinique;none;x\n"  # counted only
)  # fmt: skip
BAD = (
    HEADER
    + "Lucie;Aubrac;Infirmière;CHU de Nantes;name_role_org;oui\n"  # line 2: good
    + "Paul;Sansaccord;Médecin;CHU;name;\n"  # line 3: no consent ticked on the sheet
    + "Marc;Bloch;Historien;Université;tout;oui\n"  # line 4: an unknown choice
)  # fmt: skip


@asynccontextmanager
async def _owner(
    settings: Settings, clock: FakeClock, sessions: SessionFactory, campaign: Campaign, hashed: str
) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient]]:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="Coordinatrice", password_hash=hashed, now=clock(),
    )  # fmt: skip
    quick = dataclasses.replace(settings, breakdown_seconds=0)
    async with serve(quick, clock) as server, server.client() as browser:
        await login(browser, OWNER, PASSWORD)
        yield server, browser


async def _post(
    browser: httpx.AsyncClient, path: str, data: dict[str, str], csv: str | None = None
) -> httpx.Response:
    token = csrf_of(await browser.get(f"/dashboard/c/{SLUG}/paper"))
    files = {"file": ("feuilles.csv", csv.encode("utf-8"), "text/csv")} if csv is not None else None
    return await browser.post(path, data={"_csrf_token": token, **data}, files=files)


async def _counted(browser: httpx.AsyncClient, total: int, reference: str) -> httpx.Response:
    data = {
        "reference": reference,
        "gathered_on": "2026-11-28",
        "sheets": "12",
        "total": str(total),
    }
    return await _post(browser, f"/dashboard/c/{SLUG}/paper", data)


async def _named(browser: httpx.AsyncClient, text: str) -> httpx.Response:
    data = {"reference": "Marché de Talensac", "gathered_on": "2026-11-29", "sheets": "1"}
    return await _post(browser, f"/dashboard/c/{SLUG}/paper/named", data, text)


async def _count(browser: httpx.AsyncClient) -> tuple[int, int]:
    detail = await api(browser, f"/api/v1/campaigns/{SLUG}")
    return detail["campaign"]["count"], detail["campaign"]["paper"]


async def _batch_id(sessions: SessionFactory, reference: str) -> int:
    async with sessions() as session:
        ident = await session.scalar(select(PaperBatch.id).where(PaperBatch.reference == reference))
    assert ident is not None
    return ident


async def _paper_count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(Campaign.paper_count)) or 0)


def _pdf_text(content: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def test_a_counted_batch_joins_the_total_on_the_page_in_the_api_and_in_the_letter(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    now, confirmed = clock(), SignatureStatus.CONFIRMED
    await signatures(sessions, campaign, [("Claire", "Dupont", Publication.NAME, confirmed, now)])
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        assert await _count(browser) == (1, 0)
        assert (await _counted(browser, 312, "Congrès de Lyon")).status_code == 303
        assert await _count(browser) == (313, 312)
        listing = await api(browser, "/api/v1/campaigns")
        assert listing["campaigns"][0]["paper"] == 312

        page = (await browser.get(f"/c/{SLUG}")).text
        assert 'data-count="313"' in page and "dont 312 sur papier" in page
        letter = (await browser.get(f"/c/{SLUG}/letter")).text
        assert "313 signatures confirmées" in letter and "dont 312 sur papier" in letter
        pdf = await browser.get(f"/c/{SLUG}/letter.pdf")
        assert pdf.status_code == 200
        assert "313 signatures confirmées (dont 312 sur papier)" in _pdf_text(pdf.content)

        board = (await browser.get(f"/dashboard/c/{SLUG}/paper")).text
        assert "Congrès de Lyon" in board and 'data-counted="312"' in board
        audit = (await browser.get(f"/dashboard/c/{SLUG}/audit")).text
        assert "a enregistré des signatures comptées sur papier" in audit


async def test_a_counted_batch_with_a_bad_field_is_refused_with_the_field_named(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        data = {"reference": "", "gathered_on": "2030-01-01", "total": "douze"}
        refused = await _post(browser, f"/dashboard/c/{SLUG}/paper", data)
        assert refused.status_code == 422
        assert 'id="counted-total-error"' in refused.text
        assert 'id="counted-reference-error"' in refused.text
        assert "Cette date est dans le futur" in refused.text
        assert await _count(browser) == (0, 0)


async def test_a_named_import_with_a_bad_line_imports_nothing_and_names_the_line_then_rows_are_published_by_their_choice(  # noqa: E501  # the behaviour, in full
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        refused = await _named(browser, BAD)
        assert refused.status_code == 422
        assert "Ligne 3" in refused.text and "Ligne 4" in refused.text
        assert "Ligne 2" not in refused.text
        assert "Aucun consentement coché sur la feuille" in refused.text
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Signature)) == 0
            assert await session.scalar(select(func.count()).select_from(PaperBatch)) == 0
        assert await _count(browser) == (0, 0)

        assert (await _named(browser, GOOD)).status_code == 303
        assert await _count(browser) == (3, 3)
        shown = (await browser.get(f"/c/{SLUG}/signatories")).text
        assert "Lucie" in shown and "Aubrac" in shown and "CHU de Nantes" in shown
        assert "Jean" in shown and "Moulin" in shown and "Préfet" not in shown
        assert "Discrète" not in shown and "Anne" not in shown
        listed = await api(browser, f"/api/v1/campaigns/{SLUG}/signatories")
        named = {(s["first_name"], s["role"], s["organisation"]) for s in listed["signatories"]}
        assert named == {("Lucie", "Infirmière", "CHU de Nantes"), ("Jean", None, None)}
        letter = (await browser.get(f"/c/{SLUG}/letter")).text
        assert "Lucie Aubrac" in letter and "dont 3 sur papier" in letter
        assert "Discrète" not in letter

    async with sessions() as session:
        rows = (await session.scalars(select(Signature))).all()
        notice = await privacy.shown(session, campaign, settings)
    assert {r.status for r in rows} == {SignatureStatus.CONFIRMED}
    assert all(r.email_hash is None and r.email_domain is None for r in rows)
    assert all(r.paper_batch_id is not None and r.sealed is None for r in rows)
    assert {r.consent_version for r in rows} == {privacy.label(notice)}


async def test_named_rows_of_a_sealed_campaign_keep_in_clear_only_what_is_published(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
    tmp_path: Path,
) -> None:
    public, _secret = write_key_pair(tmp_path / "reader", None)
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(public), clock())
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        assert (await _named(browser, GOOD)).status_code == 303
    async with sessions() as session:
        rows = {r.last_name: r for r in (await session.scalars(select(Signature))).all()}
        hidden = (
            await session.scalars(select(Signature).where(Signature.last_name.is_(None)))
        ).all()
    assert rows["Aubrac"].organisation == "CHU de Nantes"
    assert rows["Moulin"].role is None and rows["Moulin"].organisation is None
    assert len(hidden) == 1 and hidden[0].first_name is None and hidden[0].role is None
    assert all(r.sealed is not None and r.sealed_key_id is not None for r in rows.values())


async def test_a_correction_and_a_deletion_move_the_count_and_are_in_the_audit_log(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        await _counted(browser, 100, "Stand du marché")
        await _named(browser, GOOD)
        assert await _count(browser) == (103, 103)
        counted = await _batch_id(sessions, "Stand du marché")
        named = await _batch_id(sessions, "Marché de Talensac")

        data = {"reference": "Stand du marché de Lyon", "sheets": "5", "total": "120"}
        fixed = await _post(browser, f"/dashboard/c/{SLUG}/paper/{counted}", data)
        assert fixed.status_code == 303
        assert await _count(browser) == (123, 123)
        wrong = {"reference": "Stand", "total": "0"}
        refused = await _post(browser, f"/dashboard/c/{SLUG}/paper/{counted}", wrong)
        assert refused.status_code == 422 and f'id="edit-{counted}-total-error"' in refused.text
        assert await _count(browser) == (123, 123)

        gone = await _post(browser, f"/dashboard/c/{SLUG}/paper/{named}/delete", {})
        assert gone.status_code == 303
        assert await _count(browser) == (120, 120)
        assert "Aubrac" not in (await browser.get(f"/c/{SLUG}/signatories")).text
        gone = await _post(browser, f"/dashboard/c/{SLUG}/paper/{counted}/delete", {})
        assert gone.status_code == 303
        assert await _count(browser) == (0, 0)
        assert "dont" not in (await browser.get(f"/c/{SLUG}")).text.split("<main", 1)[1]
        missing = await _post(browser, f"/dashboard/c/{SLUG}/paper/{counted}/delete", {})
        assert missing.status_code == 404

        audit = (await browser.get(f"/dashboard/c/{SLUG}/audit")).text
        assert "a corrigé un lot de signatures sur papier" in audit
        assert "a supprimé un lot de signatures sur papier" in audit
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 0
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    correction = next(e for e in entries if e.action == "paper correction")
    assert correction.details["before"] == 100 and correction.details["after"] == 120
    assert correction.details["previous_reference"] == "Stand du marché"
    assert [e.rows for e in entries if e.action == "paper deletion"] == [3, 120]
    # The deleted rows are in the erasure journal: a restore of an older backup deletes them.
    noted = [json.loads(line) for line in settings.resolved_journal_file.read_text().splitlines()]
    deletions = [e for e in noted if e["kind"] == journal.DELETION]
    assert len(deletions) == 1 and len(deletions[0]["signatures"]) == 3


async def test_invalidating_and_restoring_a_paper_row_keeps_the_paper_part_right(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        await _named(browser, GOOD)
        named = await _batch_id(sessions, "Marché de Talensac")
        async with sessions() as session, session.begin():
            owner = (await session.scalars(select(Organiser))).one()
            fresh = await session.get(Campaign, campaign.id)
            assert fresh is not None
            rule = moderation.Rule(name="aubrac")
            assert await moderation.invalidate(session, fresh, rule, "doublon", owner, clock()) == 1
        assert await _paper_count(sessions) == 2
        async with sessions() as session:
            batch = await session.get(PaperBatch, named)
            assert batch is not None and batch.counted == 2
        async with sessions() as session, session.begin():
            owner = (await session.scalars(select(Organiser))).one()
            fresh = await session.get(Campaign, campaign.id)
            assert fresh is not None
            assert (
                await moderation.restore(
                    session, fresh, moderation.Rule(name="aubrac"), owner, clock()
                )
                == 1
            )
        assert await _paper_count(sessions) == 3


async def test_the_counts_check_leaves_paper_alone(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    now, confirmed = clock(), SignatureStatus.CONFIRMED
    await signatures(sessions, campaign, [("Claire", "Dupont", Publication.NAME, confirmed, now)])
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        await _counted(browser, 40, "Permanence")
        await _named(browser, GOOD)
        assert await _count(browser) == (44, 43)
    async with sessions() as session, session.begin():
        assert await reconcile.check(session, fix=True) == []
    async with sessions() as session:
        assert await reconcile.check(session, fix=False) == []


async def test_anonymisation_erases_the_names_signed_on_paper(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        await _named(browser, GOOD)
    async with sessions() as session, session.begin():
        fresh = await session.get(Campaign, campaign.id)
        assert fresh is not None
        assert await retention.anonymise(session, fresh, clock()) == 3
    async with sessions() as session:
        rows = (await session.scalars(select(Signature))).all()
        paper_count = await session.scalar(select(Campaign.paper_count))
    assert len(rows) == 3 and paper_count == 3  # still counted, nobody named
    for row in rows:
        assert (row.first_name, row.last_name, row.role, row.organisation) == (None,) * 4
        assert row.status is SignatureStatus.CONFIRMED


async def test_anonymisation_erases_the_sealed_box_of_a_paper_row_published_as_none(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
    tmp_path: Path,
) -> None:
    public, _secret = write_key_pair(tmp_path / "reader", None)
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(public), clock())
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        await _named(browser, GOOD)
    async with sessions() as session, session.begin():
        fresh = await session.get(Campaign, campaign.id)
        assert fresh is not None
        await retention.anonymise(session, fresh, clock())
    async with sessions() as session:
        boxes = (await session.scalars(select(Signature.sealed))).all()
    assert boxes == [None, None, None]


async def test_a_restore_deletes_again_the_named_rows_of_a_deleted_batch(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        await _named(browser, GOOD)
    # As a backup taken now holds them, and a journal written after their deletion names them.
    async with sessions() as session:
        found = await session.execute(select(Signature.id, Signature.email_hash))
        refs = tuple((ident, email_hash) for ident, email_hash in found.all())
    entry = journal.Entry(clock(), journal.DELETION, campaign.id, refs)
    async with sessions() as session, session.begin():
        await replay.replay(session, [entry])
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 0


async def test_names_cannot_be_imported_once_the_campaign_is_anonymised(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    async with sessions() as session, session.begin():
        fresh = await session.get(Campaign, campaign.id)
        assert fresh is not None
        await retention.anonymise(session, fresh, clock())
    async with _owner(settings, clock, sessions, campaign, password_hash) as (_server, browser):
        refused = await _named(browser, GOOD)
        assert refused.status_code == 422 and "ont été effacés" in refused.text
        assert await _count(browser) == (0, 0)
