"""A sealed campaign: what signers do not publish is unreadable in the database, and comes back
whole only on a reader's machine, with a reader's key."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from petition import db, organisers, readers, sealed_exports, sealing
from petition.cli import main
from petition.cli_keys import read_public, write_key_pair
from petition.db import SessionFactory
from petition.exports import ExportFilter
from petition.models import AuditEntry, Campaign, ExportRequest, Role, Signature
from petition.settings import Settings
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.factories import organiser_with_role
from tests.support.journey import csrf_of, link, make_campaign, press, sign, signer
from tests.support.privacy import until_no_row_mentions
from tests.support.public import api, eventually
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
# One signer of each publication choice; each field a word found nowhere else.
SIGNERS = {
    "none": signer(
        "a@example.org",
        first_name="Aldegonde",
        last_name="Zybertowicz",
        role="Kinesitherapeute",
        organisation="Clinique Ormeraie",
        publication="none",
    ),
    "name": signer(
        "b@example.org",
        first_name="Bertille",
        last_name="Quenouille",
        role="Sagefemme",
        organisation="Maternite Tilleuls",
        publication="name",
    ),
    "name_role": signer(
        "c@example.org",
        first_name="Casimir",
        last_name="Vantablack",
        role="Orthoptiste",
        organisation="Centre Peupliers",
        publication="name_role",
    ),
    "name_role_org": signer(
        "d@example.org",
        first_name="Donatienne",
        last_name="Hurluberlu",
        role="Ergotherapeute",
        organisation="Hopital Marronniers",
        publication="name_role_org",
    ),
}
FIELDS = ("first_name", "last_name", "role", "organisation")
SHOWN = {
    "none": (),
    "name": ("first_name", "last_name"),
    "name_role": ("first_name", "last_name", "role"),
    "name_role_org": FIELDS,
}
HIDDEN = [s[f] for choice, s in SIGNERS.items() for f in FIELDS if f not in SHOWN[choice]]
PUBLISHED = [s[f] for choice, s in SIGNERS.items() for f in SHOWN[choice]]


@pytest.fixture
def reader(tmp_path: Path) -> tuple[Path, Path]:
    return write_key_pair(tmp_path / "reader", None)


@pytest.fixture
async def sealed(sessions: SessionFactory, clock: FakeClock, reader: tuple[Path, Path]) -> Campaign:
    campaign = await make_campaign(sessions, clock)
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(reader[0]), clock())
    return campaign


async def _sign_all(server: LiveServer, smtp: SmtpSink, signers: list[dict[str, str]]) -> None:
    async with server.client() as browser:
        before = len(smtp.messages)
        for fields in signers:
            assert (await sign(browser, SLUG, fields)).status_code == 303
        mails = await smtp.wait_for(before + len(signers))
        for mail in mails[before:]:
            assert (await press(browser, link(mail, "confirm"))).status_code in (200, 303)


async def _export(sessions: SessionFactory, campaign: Campaign, path: Path) -> Path:
    async with sessions() as session:
        fresh = await session.get(Campaign, campaign.id)
    assert fresh is not None
    with path.open("wb") as out:
        async for chunk in sealed_exports.stream(sessions, fresh, ExportFilter(), "Europe/Paris"):
            out.write(chunk)
    return path


async def _open(export: Path, key: Path, out: Path) -> int:
    """`petition export open`, as a reader runs it on their machine (its own event loop)."""
    args = ["export", "open", str(export), "--key", str(key), "--format", "json"]
    return await asyncio.to_thread(main, [*args, "--output", str(out)])


def _database_bytes(settings: Settings) -> bytes:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        database = Path(url.removeprefix("sqlite:///"))
        files = [database, database.with_name(database.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    dump = shutil.which("pg_dump")
    if dump is None:
        pytest.skip("no pg_dump on this machine")
    return subprocess.run(  # noqa: S603  # a fixed program and the test's own database URL
        [dump, "--data-only", url], check=True, capture_output=True
    ).stdout


@pytest.mark.usefixtures("sealed")
async def test_unpublished_fields_are_nowhere_in_the_database_yet_every_page_shows_the_rest(
    server: LiveServer, smtp: SmtpSink, settings: Settings, sessions: SessionFactory
) -> None:
    await _sign_all(server, smtp, list(SIGNERS.values()))
    for word in HIDDEN:  # the mails' values, erased once sent, are the last to go
        await until_no_row_mentions(sessions, word)
    for _ in range(50):  # and the write-ahead log's old pages, at the next scrub
        raw = _database_bytes(settings)
        if not any(word.encode() in raw for word in HIDDEN):
            break
        await asyncio.sleep(0.1)
    assert [word for word in HIDDEN if word.encode() in raw] == []
    assert all(word.encode() in raw for word in PUBLISHED)  # the check can see a name
    async with server.client() as browser:
        page = (await browser.get(f"/c/{SLUG}/signatories")).text
    for word in PUBLISHED:
        assert word in page
    for word in HIDDEN:
        assert word not in page
    async with sessions() as session:
        boxes = (await session.scalars(select(Signature.sealed))).all()
    assert len(boxes) == 4 and all(boxes)


async def test_the_reader_s_key_gives_back_what_each_signer_typed_and_no_other_key_does(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    sealed: Campaign,
    reader: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _sign_all(server, smtp, list(SIGNERS.values()))
    export = await _export(sessions, sealed, tmp_path / "export.json")
    for word in HIDDEN:
        assert word not in export.read_text()

    opened = tmp_path / "opened.json"
    assert await _open(export, reader[1], opened) == 0
    rows = json.loads(opened.read_text())
    got = {(r["publication"], *(r[f] for f in FIELDS)) for r in rows}
    assert got == {(choice, *(s[f] for f in FIELDS)) for choice, s in SIGNERS.items()}

    _public, stranger = write_key_pair(tmp_path / "stranger", None)
    assert await _open(export, stranger, tmp_path / "no.json") == 1
    assert "not a reader of this campaign" in capsys.readouterr().err
    assert not (tmp_path / "no.json").exists()

    document = json.loads(export.read_text())
    box = bytearray(base64.b64decode(document["rows"][0]["sealed"]))
    box[-1] ^= 1
    document["rows"][0]["sealed"] = base64.b64encode(bytes(box)).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    assert await _open(tampered, reader[1], tmp_path / "t.json") == 1
    assert "1 row(s) do not open (1)" in capsys.readouterr().err


async def test_a_removed_organiser_cannot_open_what_is_signed_after_their_removal(
    smtp: SmtpSink,
    sessions: SessionFactory,
    clock: FakeClock,
    settings: Settings,
    password_hash: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    campaign = await make_campaign(sessions, clock)
    secret = settings.load_secret_key()
    keys = {}
    for name in ("alice", "bruno"):
        member = await organiser_with_role(
            sessions, secret, campaign, Role.OWNER if name == "alice" else Role.EDITOR,
            email=f"{name}@collectif.org", name=name, password_hash=password_hash, now=clock(),
        )  # fmt: skip
        public, keys[name] = write_key_pair(tmp_path / name, None)
        async with sessions() as session, session.begin():
            await readers.add_organiser_key(session, member.id, read_public(public), clock())
            if name == "bruno":
                bruno = member.id
    # Changed from outside the server: its snapshot of the campaign follows at its next resync.
    quick = dataclasses.replace(settings, live_interval=0.2, live_resync=0.2)
    async with serve(quick, clock) as server:
        await _sign_all(server, smtp, [SIGNERS["none"]])
        async with sessions() as session, session.begin():
            fresh = await session.get(Campaign, campaign.id)
            assert fresh is not None
            await organisers.change_role(session, fresh, bruno, None)
            assert await readers.follow(session, fresh, clock())
        await asyncio.sleep(1)
        await _sign_all(server, smtp, [SIGNERS["name"]])

    export = await _export(sessions, campaign, tmp_path / "export.json")
    assert await _open(export, keys["alice"], tmp_path / "alice.json") == 0
    assert len(json.loads((tmp_path / "alice.json").read_text())) == 2
    assert await _open(export, keys["bruno"], tmp_path / "bruno.json") == 1
    assert "1 row(s) do not open (2)" in capsys.readouterr().err


def test_keys_create_writes_a_secret_key_only_its_owner_reads(tmp_path: Path) -> None:
    assert main(["keys", "create", str(tmp_path / "moi")]) == 0
    assert (tmp_path / "moi.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "moi.pub").read_text().startswith("petition-public-key-1:")
    assert main(["keys", "create", str(tmp_path / "moi")]) == 1  # never overwritten


async def test_a_campaign_sealed_after_its_first_signatures_seals_them_and_erases_the_clear(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    engine: AsyncEngine,
    settings: Settings,
    clock: FakeClock,
    reader: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    campaign = await make_campaign(sessions, clock)
    await _sign_all(server, smtp, list(SIGNERS.values()))
    async with sessions() as session:
        clear = (await session.scalars(select(Signature.last_name))).all()
    assert sorted(map(str, clear)) == sorted(s["last_name"] for s in SIGNERS.values())  # clear
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(reader[0]), clock())
    await db.scrub(engine)
    for word in HIDDEN:
        await until_no_row_mentions(sessions, word)
    raw = _database_bytes(settings)
    assert [word for word in HIDDEN if word.encode() in raw] == []

    export = await _export(sessions, campaign, tmp_path / "export.json")
    assert await _open(export, reader[1], tmp_path / "opened.json") == 0
    rows = json.loads((tmp_path / "opened.json").read_text())
    assert sorted(str(r["last_name"]) for r in rows) == sorted(
        s["last_name"] for s in SIGNERS.values()
    )
    assert {r["role"] for r in rows} == {s["role"] for s in SIGNERS.values()}


async def test_the_dashboard_shows_sealed_rows_as_such_and_exports_a_file_its_reader_opens(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
    tmp_path: Path,
) -> None:
    campaign = await make_campaign(sessions, clock)
    async with sessions() as session, session.begin():  # its only organiser exports alone
        off = update(Campaign).where(Campaign.id == campaign.id).values(four_eyes=False)
        await session.execute(off)
    totp = pyotp.random_base32()
    owner = await organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER, email="claire@collectif.org",
        name="Claire", password_hash=password_hash, now=clock(), totp_secret=totp,
    )  # fmt: skip
    public, secret = write_key_pair(tmp_path / "claire", None)
    async with sessions() as session, session.begin():
        await readers.add_organiser_key(session, owner.id, read_public(public), clock())
    await _sign_all(server, smtp, [SIGNERS["none"], SIGNERS["name_role_org"]])

    async with server.client() as browser:
        code = pyotp.TOTP(totp).at(clock())
        assert (await login(browser, "claire@collectif.org", PASSWORD, code)).status_code == 303
        overview = (await browser.get(f"/dashboard/c/{SLUG}")).text
        assert "Claire" in overview and sealing.fingerprint(read_public(public)) in overview
        listing = (await browser.get(f"/dashboard/c/{SLUG}/signatures")).text
        assert "Hurluberlu" in listing and "Zybertowicz" not in listing
        assert "scellé" in listing and "example.org" in listing
        token = csrf_of(await browser.get("/organiser/login"))
        answer = await browser.post(
            f"/dashboard/c/{SLUG}/export", data={"_csrf_token": token, "format": "sealed"}
        )
    assert answer.status_code == 200
    assert "Zybertowicz" not in answer.text
    export = tmp_path / "from-the-dashboard.json"
    export.write_bytes(answer.content)
    assert await _open(export, secret, tmp_path / "opened.json") == 0
    names = {r["last_name"] for r in json.loads((tmp_path / "opened.json").read_text())}
    assert names == {"Zybertowicz", "Hurluberlu"}


@pytest.mark.usefixtures("sealed")
async def test_a_sealed_signer_publishes_less_at_once_and_more_by_typing_it_again(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    await _sign_all(server, smtp, [SIGNERS["name"]])
    [mail] = smtp.messages
    withdraw_path = link(mail, "withdraw")
    async with server.client() as browser:
        page = await browser.get(withdraw_path)
        token = csrf_of(page)
        less = await browser.post(
            f"{withdraw_path}/publication", data={"_csrf_token": token, "publication": "none"}
        )
        assert less.status_code == 303
        await until_no_row_mentions(sessions, "Quenouille")  # erased from the clear columns

        more = {"_csrf_token": token, "publication": "name"}
        refused = await browser.post(f"{withdraw_path}/publication", data=more)
        assert refused.status_code == 422
        assert "Tapez ci-dessous" in refused.text
        again = {**more, "first_name": "Bertille", "last_name": "Quenouille"}
        assert (await browser.post(f"{withdraw_path}/publication", data=again)).status_code == 303
        await asyncio.sleep(1.1)  # the list of signatories is cached for a second
        listing = (await browser.get(f"/c/{SLUG}/signatories")).text
    assert "Quenouille" in listing


async def test_an_organiser_gives_their_public_key_in_the_dashboard_and_their_campaign_is_sealed(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
    tmp_path: Path,
) -> None:
    campaign = await make_campaign(sessions, clock)
    await organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR, email="eve@collectif.org",
        name="Eve", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    public, _secret = write_key_pair(tmp_path / "eve", None)
    async with server.client() as browser:
        assert (await login(browser, "eve@collectif.org", PASSWORD)).status_code == 303
        page = await browser.get("/organiser/key")
        assert "Vous n’avez pas encore de clé." in page.text
        form = {"_csrf_token": csrf_of(page), "public_key": "petition-secret-key-1:AAAA"}
        refused = await browser.post("/organiser/key", data=form)
        assert refused.status_code == 422 and "collez toute la ligne" in refused.text
        form["public_key"] = public.read_text()
        assert (await browser.post("/organiser/key", data=form)).status_code == 303
        saved = (await browser.get("/organiser/key")).text
        assert sealing.fingerprint(read_public(public)) in saved
    async with sessions() as session:
        fresh = await session.get(Campaign, campaign.id)
    assert fresh is not None and fresh.sealed


async def test_a_sealed_export_needs_a_second_owner_and_the_audit_log_names_both(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
    tmp_path: Path,
) -> None:
    campaign = await make_campaign(sessions, clock)
    totp = pyotp.random_base32()
    people = {}
    for email, name in (("claire@collectif.org", "Claire"), ("omar@collectif.org", "Omar")):
        people[name] = await organiser_with_role(
            sessions, settings.load_secret_key(), campaign, Role.OWNER, email=email, name=name,
            password_hash=password_hash, now=clock(), totp_secret=totp,
        )  # fmt: skip
    public, secret = write_key_pair(tmp_path / "claire", None)
    async with sessions() as session, session.begin():
        await readers.add_organiser_key(session, people["Claire"].id, read_public(public), clock())
    await _sign_all(server, smtp, [SIGNERS["none"]])
    code = pyotp.TOTP(totp).at(clock())
    base = f"/dashboard/c/{SLUG}/exports"

    async with server.client() as claire, server.client() as omar:
        assert (await login(claire, "claire@collectif.org", PASSWORD, code)).status_code == 303
        assert (await login(omar, "omar@collectif.org", PASSWORD, code)).status_code == 303
        token = csrf_of(await claire.get(f"/dashboard/c/{SLUG}"))
        asked = await claire.post(
            f"/dashboard/c/{SLUG}/export", data={"_csrf_token": token, "format": "sealed"}
        )
        assert asked.status_code == 303 and "Zybertowicz" not in asked.text
        [request_id] = await _requests(sessions)
        own = await claire.post(f"{base}/{request_id}/approve", data={"_csrf_token": token})
        assert own.status_code == 403  # not by the one who asked
        early = await claire.post(f"{base}/{request_id}", data={"_csrf_token": token})
        assert early.status_code == 403  # not before the approval
        page = await omar.get(f"/dashboard/c/{SLUG}")
        assert "Demandé par Claire" in page.text
        approve = {"_csrf_token": csrf_of(page)}
        assert (await omar.post(f"{base}/{request_id}/approve", data=approve)).status_code == 303
        fetched = await claire.post(f"{base}/{request_id}", data={"_csrf_token": token})
        assert fetched.status_code == 200
        again = await claire.post(f"{base}/{request_id}", data={"_csrf_token": token})
        assert again.status_code == 403  # once

    export = tmp_path / "approved.json"
    export.write_bytes(fetched.content)
    assert await _open(export, secret, tmp_path / "opened.json") == 0
    assert json.loads((tmp_path / "opened.json").read_text())[0]["last_name"] == "Zybertowicz"
    async with sessions() as session:
        entries = (
            await session.execute(
                select(AuditEntry.actor, AuditEntry.action, AuditEntry.details)
                .where(AuditEntry.action.like("export%"))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(actor, action) for actor, action, _ in entries] == [
        ("Claire", "export request"),
        ("Omar", "export approval"),
        ("Claire", "export"),
    ]
    assert entries[1][2]["requested_by"] == "Claire"
    assert entries[2][2]["approved_by"] == "Omar"


async def _requests(sessions: SessionFactory) -> list[int]:
    async with sessions() as session:
        return list((await session.scalars(select(ExportRequest.id))).all())


@pytest.mark.usefixtures("sealed")
async def test_the_api_gives_what_signers_published_on_a_sealed_campaign_and_nothing_sealed(
    server: LiveServer, smtp: SmtpSink
) -> None:
    await _sign_all(server, smtp, list(SIGNERS.values()))
    async with server.client() as client:
        listed = await eventually(
            lambda: api(client, f"/api/v1/campaigns/{SLUG}/signatories"),
            lambda page: len(page["signatories"]) == 3,
        )
        detail = await eventually(
            lambda: api(client, f"/api/v1/campaigns/{SLUG}"),
            lambda d: d["campaign"]["count"] == 4,
        )
    shown = {(s["last_name"], s["role"], s["organisation"]) for s in listed["signatories"]}
    assert shown == {
        ("Quenouille", None, None),
        ("Vantablack", "Orthoptiste", None),
        ("Hurluberlu", "Ergotherapeute", "Hopital Marronniers"),
    }
    text = json.dumps(detail)
    assert "Orthoptiste" in text and "Hopital Marronniers" in text
    for word in HIDDEN:
        assert word not in text
