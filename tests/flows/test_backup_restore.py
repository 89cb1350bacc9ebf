"""An operator backs the site up while people sign, and later restores it elsewhere: everyone is
back, except those who withdrew since (erased, uncounted) and those invalidated since.

The backup and the restore are the real `petition` commands, run beside the live server with
its settings; signers sign, confirm and withdraw through their mailed links, an editor
invalidates through the dashboard. SQLite is restored into a fresh var directory, PostgreSQL
into a freshly created empty database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyrage import x25519
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from petition import counts, tokens
from petition.db import SessionFactory, create_engine, create_session_factory, is_sqlite
from petition.models import Campaign, OutboxMail, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.process import petition_serve
from tests.support.public import api_count
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
EDITOR = "editrice@collectif-sante.org"
# (first name, last name, address): names found nowhere else, to look for in the files.
BEFORE = [
    ("Aurore", "Archambault", "aurore@signataires.example"),
    ("Bastien", "Brocéliande", "bastien@signataires.example"),
    ("Céleste", "Cornouaille", "celeste@signataires.example"),
    ("Dorian", "Dauphiné", "dorian@signataires.example"),
    ("Eléonore", "Estérel", "eleonore@signataires.example"),
    ("Fantin", "Finistère", "fantin@signataires.example"),
]
DURING = [  # sign and confirm while the backup runs: in it or not, whole either way
    ("Gaspard", "Gévaudan", "gaspard@signataires.example"),
    ("Hortense", "Hurepoix", "hortense@signataires.example"),
    ("Isidore", "Ivrylaville", "isidore@signataires.example"),
]
AFTER = ("Jacinthe", "Jurassienne", "jacinthe@signataires.example")
WITHDRAWN = {"Bastien", "Céleste", "Gaspard", "Jacinthe"}
INVALIDATED, INVALIDATED_THEN_RESTORED = "Dorian", "Eléonore"
EVERYONE = [*BEFORE, *DURING, AFTER]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The editor signs in with a password only (second factors: tests/flows/test_two_factor.py)."""
    return dataclasses.replace(settings, exports_require_2fa=False)


@pytest.fixture
async def editor(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, clock: FakeClock,
    password_hash: str,
) -> None:  # fmt: skip
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
    )  # fmt: skip


@pytest.fixture
async def elsewhere(settings: Settings, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The settings of the site restored: a fresh var directory, and on PostgreSQL a freshly
    created empty database (dropped afterwards)."""
    env = {"PETITION_VAR_DIR": str(tmp_path / "restored"), "PETITION_BASE_URL": "http://x.test"}
    if is_sqlite(settings.resolved_database_url):
        yield env
        return
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        problem = "pg_dump and pg_restore (Debian: postgresql-client) are not installed"
        if os.environ.get("PETITION_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    base = make_url(settings.resolved_database_url)
    name = f"{base.database}_restore_{secrets.token_hex(4)}"
    await _admin(settings.resolved_database_url, f'CREATE DATABASE "{name}"')
    try:
        yield env | {"PETITION_DATABASE_URL": base.set(database=name).render_as_string(False)}
    finally:
        await _admin(
            settings.resolved_database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )


@pytest.mark.usefixtures("campaign", "editor")
async def test_a_restore_keeps_the_withdrawals_and_invalidations_made_since_the_backup(
    server: LiveServer, smtp: SmtpSink, settings: Settings, sessions: SessionFactory,
    elsewhere: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    mails: dict[str, EmailMessage] = {}
    async with server.client() as browser:
        for person in BEFORE:
            mails[person[0]] = await signed_up(browser, smtp, person)
        during = asyncio.gather(*(signed_up(browser, smtp, person) for person in DURING))
        made = await petition(site_env(settings), "backup", "--to", str(tmp_path / "backups"))
        for person, mail in zip(DURING, await during, strict=True):
            mails[person[0]] = mail
        assert made.code == 0, made.err
        assert "apart" in made.err
        mails[AFTER[0]] = await signed_up(browser, smtp, AFTER)
        for name in sorted(WITHDRAWN):
            assert (await press(browser, link(mails[name], "withdraw"))).status_code == 303
        await login(browser, EDITOR, PASSWORD)
        ids = await ids_by_name(sessions)
        for action, name in (
            ("invalidate", INVALIDATED),
            ("invalidate", INVALIDATED_THEN_RESTORED),
            ("restore", INVALIDATED_THEN_RESTORED),
        ):
            await moderate(browser, action, ids[name])

    journal_text = settings.resolved_journal_file.read_text()
    for first, last, address in EVERYONE:  # ids and keyed hashes only
        assert first not in journal_text and last not in journal_text
        assert address not in journal_text and address.split("@")[1] not in journal_text
    archive = made.line("archive: ")

    with_journal = ("restore", archive, "--journal", str(settings.resolved_journal_file))
    restored = await petition(elsewhere, *with_journal)
    assert restored.code == 0, restored.err
    re_erased = int(restored.out.split(" signatures re-erased")[0].rsplit(" ", 1)[1])
    assert re_erased in {2, 3}  # Bastien and Céleste; Gaspard if the backup caught him
    confirmed = await the_restored_site_is_as_expected(elsewhere, settings)

    refused = await petition(elsewhere, *with_journal)  # the database is live now
    assert refused.code == 1 and "--force" in refused.err
    again = await petition(elsewhere, *with_journal, "--force")  # the journal applied twice
    assert again.code == 0, again.err
    assert await the_restored_site_is_as_expected(elsewhere, settings) == confirmed

    async with (
        petition_serve(elsewhere) as served,
        httpx.AsyncClient(base_url=served.base_url, timeout=10) as visitor,
    ):
        assert await api_count(visitor, SLUG) == len(confirmed)


async def the_restored_site_is_as_expected(env: Mapping[str, str], settings: Settings) -> set[str]:
    """Checks the restored database; the names of its confirmed signers."""
    url = env.get("PETITION_DATABASE_URL") or f"sqlite:///{env['PETITION_VAR_DIR']}/petition.db"
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            rows = (await session.execute(select(Signature))).scalars().all()
            by_hash = await session.scalar(
                select(func.count()).where(Signature.email_hash.in_(withdrawn_hashes(settings)))
            )
            addresses = (await session.execute(select(OutboxMail.to_address))).scalars().all()
            [campaign_id] = (await session.execute(select(Campaign.id))).scalars().all()
            counted = await counts.confirmed(session, campaign_id)
    finally:
        await engine.dispose()
    named = {row.first_name: row for row in rows if row.first_name}
    assert not WITHDRAWN & set(named)
    assert by_hash == 0
    assert not set(addresses) & {a for first, _last, a in EVERYONE if first in WITHDRAWN}
    assert named[INVALIDATED].status is SignatureStatus.INVALIDATED
    confirmed = {name for name, row in named.items() if row.status is SignatureStatus.CONFIRMED}
    certain = {"Aurore", "Eléonore", "Fantin"}  # confirmed before the backup began
    assert certain <= confirmed <= certain | {"Hortense", "Isidore"}
    assert counted == len(confirmed)
    if url.startswith("sqlite"):  # nor anywhere in the files, free pages and log included
        content = database_files(Path(env["PETITION_VAR_DIR"]))
        for first, last, address in EVERYONE:
            if first in WITHDRAWN:
                for word in (first, last, address):
                    assert word.encode() not in content, word
    secret = Path(env["PETITION_VAR_DIR"]) / "secret.key"  # the backup's, restored beside
    assert secret.read_text().strip() == settings.secret_key
    return confirmed


async def test_a_damaged_archive_is_refused_and_changes_nothing(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, clock: FakeClock,
    elsewhere: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    await factories.signature(sessions, campaign, status=SignatureStatus.CONFIRMED, at=clock())
    made = await petition(site_env(settings), "backup", "--to", str(tmp_path / "site.tar"))
    assert made.code == 0, made.err
    archive = tmp_path / "site.tar"
    damaged = bytearray(archive.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # inside the database copy, the bulk of the archive
    archive.write_bytes(bytes(damaged))

    refused = await petition(elsewhere, "restore", str(archive))
    assert refused.code == 1
    assert "damaged" in refused.err and "nothing was changed" in refused.err
    assert holds_nothing(Path(elsewhere["PETITION_VAR_DIR"]))
    assert await tables_in(elsewhere) == 0

    archive.write_bytes(bytes(damaged[:2048]))  # cut short
    cut = await petition(elsewhere, "restore", str(archive))
    assert cut.code == 1 and "not a readable petition backup" in cut.err


async def test_an_encrypted_backup_restores_with_its_identity_only(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, clock: FakeClock,
    elsewhere: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    await factories.signature(
        sessions, campaign, status=SignatureStatus.CONFIRMED, at=clock(), first_name="Chiffrée"
    )
    identity = x25519.Identity.generate()
    key_file = tmp_path / "backup.agekey"
    key_file.write_text(f"# the operator's\n{identity}\n")
    env = site_env(settings) | {"PETITION_BACKUP_AGE_RECIPIENT": str(identity.to_public())}
    made = await petition(env, "backup", "--to", str(tmp_path))
    assert made.code == 0, made.err
    archive, secret = Path(made.line("archive: ")), Path(made.line("server secret: "))
    assert archive.name.endswith(".tar.age") and secret.name.endswith(".SERVER-SECRET.key.age")
    assert settings.secret_key.encode() not in contents(secret)
    assert "Chiffrée".encode() not in contents(archive)

    without = await petition(elsewhere, "restore", str(archive))
    assert without.code == 1 and "--identity" in without.err
    other = tmp_path / "other.agekey"
    other.write_text(f"{x25519.Identity.generate()}\n")
    wrong = await petition(elsewhere, "restore", str(archive), "--identity", str(other))
    assert wrong.code == 1 and "cannot be decrypted" in wrong.err
    assert await tables_in(elsewhere) == 0

    done = await petition(elsewhere, "restore", str(archive), "--identity", str(key_file))
    assert done.code == 0, done.err
    assert "server secret restored" in done.out
    url = (
        elsewhere.get("PETITION_DATABASE_URL")
        or f"sqlite:///{elsewhere['PETITION_VAR_DIR']}/petition.db"
    )
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            names = (await session.execute(select(Signature.first_name))).scalars().all()
    finally:
        await engine.dispose()
    assert names == ["Chiffrée"]


async def test_a_new_site_restores_with_its_empty_journal_into_a_directory_made_for_it(
    settings: Settings, campaign: Campaign, elsewhere: dict[str, str], tmp_path: Path
) -> None:
    """A site that has erased nothing has its journal all the same (empty, its owner's only),
    and `--to DIR/` makes that directory, for its owner only, holding the two files."""
    upgraded = await petition(site_env(settings), "db", "upgrade")
    assert upgraded.code == 0, upgraded.err
    journal = settings.resolved_journal_file
    assert journal.read_bytes() == b"" and journal.stat().st_mode & 0o777 == 0o600
    made = await petition(site_env(settings), "backup", "--to", f"{tmp_path}/backups/")
    assert made.code == 0, made.err
    folder = tmp_path / "backups"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert sorted(p.suffix for p in folder.iterdir()) == [".key", ".tar"]
    archive = next(folder.glob("*.tar"))
    done = await petition(elsewhere, "restore", str(archive), "--journal", str(journal))
    assert done.code == 0, done.err
    assert "0 entries replayed" in done.out


@dataclasses.dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def line(self, prefix: str) -> str:
        return next(
            line[len(prefix) :] for line in self.out.splitlines() if line.startswith(prefix)
        )


async def petition(env: Mapping[str, str], *args: str) -> Ran:
    """The `petition` command, with these settings only, as an operator runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PETITION_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petition.cli", *args, env={**clean, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def site_env(settings: Settings) -> dict[str, str]:
    """The live server's settings, as its environment file would give them."""
    return {
        "PETITION_VAR_DIR": str(settings.var_dir),
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_SECRET_KEY": settings.secret_key,
    }


async def signed_up(
    browser: httpx.AsyncClient, smtp: SmtpSink, person: tuple[str, str, str]
) -> EmailMessage:
    """Sign, wait for the mail, confirm through its link; the mail (its withdrawal link)."""
    first, last, address = person
    assert (
        await sign(browser, SLUG, signer(address, first_name=first, last_name=last))
    ).status_code == 303
    for _ in range(200):
        if mail := smtp.to(address):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"no mail to {address}")
    assert (await press(browser, link(mail[0], "confirm"))).status_code == 303
    return mail[0]


async def moderate(browser: httpx.AsyncClient, action: str, signature_id: int) -> None:
    """What an editor does from the signatures page: tick one, invalidate or restore it."""
    page = await browser.get(f"/dashboard/c/{SLUG}/signatures")
    form: dict[str, Any] = {"_csrf_token": csrf_of(page), "id": str(signature_id)}
    if action == "invalidate":
        form["reason"] = "signature en double"
    answer = await browser.post(f"/dashboard/c/{SLUG}/signatures/{action}", data=form)
    assert answer.status_code == 303, answer.text


async def ids_by_name(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as session:
        found = await session.execute(select(Signature.first_name, Signature.id))
        return {name: ident for name, ident in found.all() if name}


def withdrawn_hashes(settings: Settings) -> list[str]:
    secret = settings.load_secret_key()
    return [tokens.email_hash(secret, a) for first, _last, a in EVERYONE if first in WITHDRAWN]


async def tables_in(env: Mapping[str, str]) -> int:
    """Tables in the restored site's database (0: none, or no database at all)."""
    if "PETITION_DATABASE_URL" not in env:
        return 0 if holds_nothing(Path(env["PETITION_VAR_DIR"])) else 1
    engine = create_engine(env["PETITION_DATABASE_URL"])
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT count(*) FROM information_schema.tables"
                    " WHERE table_schema = current_schema()"
                )
            )
            return int(found or 0)
    finally:
        await engine.dispose()


def database_files(var_dir: Path) -> bytes:
    """The restored SQLite database's files, its log beside it included."""
    return b"".join(path.read_bytes() for path in sorted(var_dir.glob("petition.db*")))


def holds_nothing(directory: Path) -> bool:
    return not directory.exists() or not any(directory.iterdir())


def contents(path: Path) -> bytes:
    return path.read_bytes()


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
