"""Organisers export verified lists: only theirs, only with the right role, always audited."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import html
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import httpx
import pyotp
import pytest
from sqlalchemy import insert, select, update

from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, Publication, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, make_campaign, sign, signer
from tests.support.server import LiveServer, serve

OWNER = "owner@collectif-sante.org"
VIEWER = "viewer@collectif-sante.org"
TOTP = pyotp.random_base32()


@pytest.fixture
async def team(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    secret = settings.load_secret_key()
    for email, role, name in ((OWNER, Role.OWNER, "Claire"), (VIEWER, Role.VIEWER, "Vic")):
        await factories.organiser_with_role(
            sessions, secret, campaign, role,
            email=email, name=name, password_hash=password_hash, now=clock(), totp_secret=TOTP,
        )  # fmt: skip
    day = timedelta(days=1)
    confirmed, pending = SignatureStatus.CONFIRMED, SignatureStatus.PENDING
    await factories.signature(
        sessions, campaign, status=confirmed, at=clock() - 2 * day,
        first_name="Ada", last_name="Lovelace",
    )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=confirmed, at=clock(),
        first_name="=cmd|' /C calc'!A0", last_name="Injection", organisation="@SUM(1+1)",
    )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=pending, at=clock(), first_name="Pending", last_name="Person"
    )


# 09:15:42.654321 UTC on 1 December 2026: 10:15:42 in Paris, where it is winter (UTC+1).
CONFIRMED_AT = datetime(2026, 12, 1, 9, 15, 42, 654321, tzinfo=UTC)
ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
}


@pytest.fixture
async def dated(sessions: SessionFactory, campaign: Campaign, team: None) -> None:
    """A signer who chose to show name, role and organisation, confirmed at a known instant."""
    zoe = await factories.signature(
        sessions, campaign, status=SignatureStatus.CONFIRMED, at=CONFIRMED_AT,
        first_name="Zoé", last_name="Datée",
    )  # fmt: skip
    async with sessions() as session, session.begin():
        await session.execute(
            update(Signature)
            .where(Signature.id == zoe.id)
            .values(publication=Publication.NAME_ROLE_ORG)
        )


def _code(clock: FakeClock) -> str:
    return pyotp.TOTP(TOTP).at(clock())


async def _export(
    browser: httpx.AsyncClient, slug: str = "mission-sante", **fields: str
) -> httpx.Response:
    token = csrf_of(await browser.get("/organiser/login"))  # the browser's token, as any form has
    return await browser.post(f"/dashboard/c/{slug}/export", data={"_csrf_token": token, **fields})


@pytest.mark.usefixtures("team")
async def test_csv_export_lists_confirmed_signatures_with_formulas_neutralised_and_is_audited(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    async with server.client() as browser:
        assert (await login(browser, OWNER, PASSWORD, _code(clock))).status_code == 303
        answer = await _export(browser, format="csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert f'filename="mission-sante-signatures-{clock():%Y%m%d-%H%M%S}.csv"' in disposition
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Prénom", "Nom"]
    names = {(r[0], r[1], r[3]) for r in rows[1:]}
    assert names == {
        ("Ada", "Lovelace", "CHU de Lyon"),
        ("'=cmd|' /C calc'!A0", "Injection", "'@SUM(1+1)"),
    }
    async with sessions() as session:
        [entry] = (await session.execute(select(AuditEntry))).scalars().all()
    assert (entry.actor, entry.action, entry.rows) == ("Claire", "export", 2)
    assert entry.details["format"] == "csv" and entry.details["status"] == "confirmed"


@pytest.mark.usefixtures("team")
async def test_ods_and_json_exports_open_and_hold_the_same_rows(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        ods = await _export(browser, format="ods")
        as_json = await _export(browser, format="json")
    assert ods.headers["content-type"] == "application/vnd.oasis.opendocument.spreadsheet"
    with zipfile.ZipFile(io.BytesIO(ods.content)) as archive:
        assert archive.namelist()[0] == "mimetype"
        content = ElementTree.fromstring(archive.read("content.xml"))  # noqa: S314  # our own output
    texts = [p.text for p in content.iter("{urn:oasis:names:tc:opendocument:xmlns:text:1.0}p")]
    assert "Lovelace" in texts and "=cmd|' /C calc'!A0" in texts  # a text cell: never evaluated
    people = json.loads(as_json.content)
    assert sorted(p["last_name"] for p in people) == ["Injection", "Lovelace"]


@pytest.mark.usefixtures("dated")
async def test_csv_export_says_publication_choices_in_words_and_dates_in_the_campaigns_zone(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        answer = await _export(browser, format="csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    by_name = {row[1]: row for row in rows[1:]}
    assert rows[0][4:] == ["Publication", "Confirmée le (Europe/Paris)"]
    assert by_name["Datée"][4:] == [
        "Mon nom, ma fonction et mon organisation",
        "2026-12-01 10:15:42",
    ]
    assert by_name["Lovelace"][4] == "Mon nom"


@pytest.mark.usefixtures("dated")
async def test_ods_export_has_date_cells_in_the_campaigns_zone_and_publication_in_words(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        ods = await _export(browser, format="ods")
    with zipfile.ZipFile(io.BytesIO(ods.content)) as archive:
        content = ElementTree.fromstring(archive.read("content.xml"))  # noqa: S314  # our own output
    header, *rows = content.iterfind(".//table:table-row", ODF)
    assert _texts(header)[4:] == ["Publication", "Confirmée le (Europe/Paris)"]
    [zoe] = [row for row in rows if "Datée" in _texts(row)]
    publication, confirmed = zoe.findall("table:table-cell", ODF)[4:]
    assert _texts(publication) == ["Mon nom, ma fonction et mon organisation"]
    assert confirmed.get(_name("office", "value-type")) == "date"
    assert confirmed.get(_name("office", "date-value")) == "2026-12-01T10:15:42"
    # Shown by the spreadsheet as a date and a time, to the second.
    style_name = confirmed.get(_name("table", "style-name"))
    style = content.find(f".//style:style[@style:name='{style_name}']", ODF)
    assert style is not None
    data_style = style.get(_name("style", "data-style-name"))
    shape = content.find(f".//number:date-style[@style:name='{data_style}']", ODF)
    assert shape is not None
    fields = [e.tag.rpartition("}")[2] for e in shape if e.tag != _name("number", "text")]
    assert fields == ["year", "month", "day", "hours", "minutes", "seconds"]


@pytest.mark.usefixtures("dated")
async def test_json_export_keeps_stored_codes_and_iso_dates_with_the_campaigns_offset(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        confirmed = json.loads((await _export(browser, format="json")).content)
        pending = json.loads((await _export(browser, format="json", status="pending")).content)
    [zoe] = [p for p in confirmed if p["last_name"] == "Datée"]
    assert zoe["publication"] == "name_role_org"
    assert zoe["confirmed_at"] == "2026-12-01T10:15:42+01:00"
    assert [(p["last_name"], p["confirmed_at"]) for p in pending] == [("Person", None)]


@pytest.mark.usefixtures("team")
async def test_each_format_names_its_media_type_and_charset_once(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        types = {
            fmt: (await _export(browser, format=fmt)).headers.get_list("content-type")
            for fmt in ("csv", "ods", "json")
        }
    assert types == {
        "csv": ["text/csv; charset=utf-8"],
        "ods": ["application/vnd.oasis.opendocument.spreadsheet"],
        "json": ["application/json"],
    }


@pytest.mark.usefixtures("team")
async def test_the_audit_log_says_in_french_what_an_export_held(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        await _export(browser, format="json", since="2026-12-01", until="2026-12-05")
        page = await browser.get("/dashboard/c/mission-sante/audit")
    [line] = _audit_lines(page.text)
    assert line.startswith("a exporté des signatures (")
    assert re.search(r"Format\s?: JSON, État\s?: Confirmées, ", line)
    assert "1er décembre 2026" in line and "5 décembre 2026" in line  # "to" included
    assert "=" not in line and "status" not in line and "confirmed" not in line


def _name(prefix: str, local: str) -> str:
    return f"{{{ODF[prefix]}}}{local}"


def _texts(element: ElementTree.Element) -> list[str]:
    """The text of each cell of a row (or of one cell's paragraphs)."""
    cells = element.findall("table:table-cell", ODF) or [element]
    return ["".join(cell.itertext()) for cell in cells]


def _audit_lines(page: str) -> list[str]:
    """What the audit log's "What" column says, line by line, as a reader sees it."""
    section = page[page.index('id="audit-title"') :]
    cells = re.findall(
        r"<tr>\s*<td[^>]*>.*?</td>\s*<td[^>]*>.*?</td>\s*<td[^>]*>(.*?)</td>", section, re.S
    )
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", cell)).split()) for cell in cells]


@pytest.mark.usefixtures("team")
async def test_date_range_and_status_filters(server: LiveServer, clock: FakeClock) -> None:
    today = clock().date().isoformat()
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        recent = json.loads((await _export(browser, format="json", since=today)).content)
        pending = json.loads((await _export(browser, format="json", status="pending")).content)
        bad = await _export(browser, format="json", since="not a date")
    assert [p["last_name"] for p in recent] == ["Injection"]
    assert [p["last_name"] for p in pending] == ["Person"]
    assert bad.status_code == 400


@pytest.mark.usefixtures("team")
async def test_a_viewer_sees_counts_but_no_names(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    async with server.client() as browser:
        await login(browser, VIEWER, PASSWORD, _code(clock))
        page = await browser.get("/dashboard/c/mission-sante")
        refused = await _export(browser, format="csv")
    assert page.status_code == 200
    assert 'data-status="confirmed">2<' in page.text
    assert "Lovelace" not in page.text and "/export" not in page.text
    assert refused.status_code == 403
    async with sessions() as session:
        assert (await session.execute(select(AuditEntry))).first() is None


@pytest.mark.usefixtures("team")
async def test_another_campaigns_organiser_reaches_nothing(
    server: LiveServer, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock, slug="autre-campagne")
    async with server.client() as browser:
        await login(browser, OWNER, PASSWORD, _code(clock))
        page = await browser.get("/dashboard/c/autre-campagne")
        export = await _export(browser, slug="autre-campagne", format="csv")
        board = await browser.get("/dashboard")
    assert page.status_code == 404
    assert export.status_code == 404
    assert "autre-campagne" not in board.text


async def test_exports_refused_without_csrf_or_signed_out(server: LiveServer) -> None:
    async with server.client() as browser:
        anonymous = await browser.post("/dashboard/c/mission-sante/export", data={"format": "csv"})
    assert anonymous.status_code == 403  # no CSRF token: refused before anything else


async def test_signing_goes_on_while_a_long_export_streams(
    settings: Settings, sessions: SessionFactory, clock: FakeClock, campaign: Campaign, team: None
) -> None:
    """A slow download holds a read snapshot, never the database: signers are not kept waiting."""
    rows = [
        {
            "campaign_id": campaign.id,
            "status": SignatureStatus.CONFIRMED,
            "email_hash": f"{n:064x}",
            "first_name": f"Prénom{n}",
            "last_name": "Nom",
            "role": "Infirmière",
            "organisation": "CHU",
            "publication": Publication.NONE,
            "locale": "fr",
            "consent_version": "test",
            "consented_at": clock(),
            "created_at": clock(),
            "confirmed_at": clock(),
        }
        for n in range(60_000)
    ]
    async with sessions() as session, session.begin():
        await session.execute(insert(Signature), rows)
    without_2fa = dataclasses.replace(settings, exports_require_2fa=False)
    async with serve(without_2fa, clock) as server, server.client() as organiser:
        await login(organiser, OWNER, PASSWORD, _code(clock))
        form = {"_csrf_token": csrf_of(await organiser.get("/organiser/login")), "format": "json"}
        async with organiser.stream(
            "POST", "/dashboard/c/mission-sante/export", data=form
        ) as download:
            assert download.status_code == 200
            chunks = download.aiter_bytes()
            assert len(await anext(chunks)) > 0  # the export has begun, and is left hanging
            async with server.client() as signer_browser:
                answer = await asyncio.wait_for(
                    sign(signer_browser, "mission-sante", signer("pendant@example.org")), timeout=20
                )
            assert answer.status_code == 303
            received = sum([len(chunk) async for chunk in chunks])
    assert received > 5_000_000
