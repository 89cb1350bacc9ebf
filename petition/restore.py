"""Restoring a backup (petition.backups), then applying the erasure journal again
(petition.journal, petition.replay).

`restore` checks everything before it changes anything (decryption, checksum, integrity, a
live database in the way, the secret), then puts the database in place, brings its schema up
to date, applies the journal, repairs the counters, runs the retention purge and compacts the
files, so that erased names leave them. On SQLite all of that happens on a copy beside the
target, renamed into place at the end: a failure leaves the target as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyrage
from pyrage import x25519
from sqlalchemy import text

from petition import db, journal, migrate, reconcile, replay, retention
from petition.backup_files import (
    BackupError,
    check_sqlite,
    fsync_directory,
    libpq,
    pg_revision,
    private,
    run,
    safe,
    sqlite_path,
    sqlite_revision,
    write_private,
)
from petition.backups import DUMPS, FORMAT, MANIFEST, SECRET_SUFFIX, fingerprint, secret_path_for
from petition.journal import Entry, Journal
from petition.models import OutboxMail, Signature, SignatureToken
from petition.settings import MIN_SECRET_LENGTH, Settings

_AGE_HEADERS = (b"age-encryption.org/v1", b"-----BEGIN AGE ENCRYPTED FILE-----")


@dataclass(slots=True)
class Restored:
    target: str
    manifest: dict[str, Any]
    replayed: replay.Replayed = field(default_factory=replay.Replayed)
    unreadable: int = 0  # journal lines that could not be read
    carried: int = 0  # entries of other journals now in this site's journal
    counters_repaired: int = 0
    purged: int = 0
    secret_written: Path | None = None
    journals: list[Path] = field(default_factory=list)  # the journals applied (none: warn)


def restore(
    settings: Settings,
    archive: Path,
    *,
    secret_file: Path | None = None,
    identity_file: Path | None = None,
    journals: Sequence[Path] = (),
    force: bool = False,
    now: datetime,
) -> Restored:
    """Restore `archive` where the settings say, then apply the journals again."""
    identities = _identities(identity_file) if identity_file else []
    url = settings.resolved_database_url
    kind = "sqlite" if db.is_sqlite(url) else "postgresql"
    work_dir = sqlite_path(url).parent if kind == "sqlite" else settings.var_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".petition-restore-") as work:
        manifest, dump = _open_archive(archive, identities, Path(work))
        if manifest["database"] != kind:
            raise BackupError(
                f"this is a backup of a {manifest['database']} database, and this site's"
                f" database is {kind} ({safe(url)})"
            )
        secret = _secret_to_restore(settings, archive, secret_file, identities, manifest, force)
        paths, entries, unreadable, carried = _journal_entries(settings, journals)
        target = str(sqlite_path(url)) if kind == "sqlite" else safe(url)
        done = Restored(target, manifest, unreadable=unreadable, carried=len(carried))
        done.journals = paths
        apply = _Apply(settings, entries, carried, now, done, secret)
        if kind == "sqlite":
            _restore_sqlite(sqlite_path(url), dump, manifest, apply, force=force)
        else:
            _restore_postgresql(url, dump, manifest, apply, force=force)
    return done


def _open_archive(
    archive: Path, identities: list[x25519.Identity], work: Path
) -> tuple[dict[str, Any], Path]:
    """The manifest, and the database copy checked against its checksum."""
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    plain = _decrypted(archive, identities, work / "archive.tar") if _is_age(archive) else archive
    try:
        with tarfile.open(plain, mode="r:") as tar:
            manifest = _manifest(tar)
            member = tar.getmember(manifest["dump"])
            data = tar.extractfile(member)
            if data is None:
                raise BackupError(f"{archive}: its database copy is not a file")
            dump = work / manifest["dump"]
            with data, private(dump) as out:
                digest = hashlib.sha256()
                while chunk := data.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    except (tarfile.TarError, KeyError, ValueError, EOFError) as exc:
        raise BackupError(
            f"{archive} is not a readable petition backup ({exc}); nothing was changed"
        ) from exc
    if digest.hexdigest() != manifest["dump_sha256"]:
        raise BackupError(
            f"{archive} is damaged: its database copy does not match the checksum of its"
            " manifest; nothing was changed (use another backup)"
        )
    return manifest, dump


def _manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    data = tar.extractfile(MANIFEST)
    if data is None:
        raise ValueError("no manifest")
    manifest = json.loads(data.read(1 << 16))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError("a manifest of another format")
    if DUMPS.get(str(manifest.get("database"))) != manifest.get("dump"):
        raise ValueError("a manifest naming no known database copy")
    if not isinstance(manifest.get("dump_sha256"), str):
        raise ValueError("a manifest without checksum")
    return manifest


def _is_age(path: Path) -> bool:
    with path.open("rb") as head:
        start = head.read(64)
    return start.startswith(_AGE_HEADERS)


def _identities(path: Path) -> list[x25519.Identity]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
        found = [
            x25519.Identity.from_str(line.strip()) for line in lines if line.startswith("AGE-")
        ]
    except (OSError, UnicodeError, pyrage.IdentityError) as exc:
        raise BackupError(f"{path}: not an age identity file ({exc})") from exc
    if not found:
        raise BackupError(f"{path}: no age identity (AGE-SECRET-KEY-1...) in it")
    return found


def _decrypted(path: Path, identities: list[x25519.Identity], target: Path) -> Path:
    if not identities:
        raise BackupError(f"{path} is encrypted (age): give its identity file with --identity")
    write_private(target, b"")
    try:
        pyrage.decrypt_file(str(path), str(target), identities)
    except pyrage.DecryptError as exc:
        raise BackupError(
            f"{path} cannot be decrypted with this identity, or is damaged ({exc});"
            " nothing was changed"
        ) from exc
    return target


def _secret_to_restore(
    settings: Settings,
    archive: Path,
    given: Path | None,
    identities: list[x25519.Identity],
    manifest: dict[str, Any],
    force: bool,
) -> bytes | None:
    """The backup's secret to write into var/secret.key, if none is configured here.

    Keyed email hashes are only usable with the secret they were made with: a different
    one would let every earlier signer sign again and find no signature of theirs.
    """
    theirs, source = _backup_secret(archive, given, identities)
    expected = manifest.get("secret_fingerprint")
    if theirs is not None and fingerprint(theirs) != expected:
        raise BackupError(f"{source} is not the server secret of this backup")
    ours = _configured_secret(settings)
    if ours is not None:
        if fingerprint(ours) != expected and not force:
            raise BackupError(
                "a different server secret is configured here (PETITION_SECRET_KEY or"
                f" {settings.var_dir / 'secret.key'}) than this backup's: its keyed email hashes"
                " would not match. Configure the backup's secret, or run again with --force"
                " to keep this one (earlier signers' addresses will then look new)"
            )
        return None
    if theirs is None and not force:
        raise BackupError(
            f"no server secret for this backup: give it with --secret FILE (the"
            f" {SECRET_SUFFIX} file made with the archive), or run again with --force to"
            " restore without it (earlier signers' addresses will then look new)"
        )
    return theirs


def _backup_secret(
    archive: Path, given: Path | None, identities: list[x25519.Identity]
) -> tuple[bytes | None, Path | None]:
    candidates = (
        [given]
        if given is not None
        else [secret_path_for(archive, encrypted=e) for e in (False, True)]
    )
    for path in candidates:
        if not path.is_file():
            continue
        raw = path.read_bytes()
        if not raw.startswith(_AGE_HEADERS):
            return raw.strip(), path
        if not identities:
            raise BackupError(f"{path} is encrypted (age): give its identity file with --identity")
        try:
            return pyrage.decrypt(raw, identities).strip(), path
        except pyrage.DecryptError as exc:
            raise BackupError(f"{path} cannot be decrypted with this identity ({exc})") from exc
    if given is not None:
        raise BackupError(f"{given}: no such file")
    return None, None


def _configured_secret(settings: Settings) -> bytes | None:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.var_dir / "secret.key"
    return path.read_bytes().strip() if path.exists() else None


def _write_secret(path: Path, secret: bytes) -> Path:
    if len(secret) < MIN_SECRET_LENGTH:
        raise BackupError("the backup's server secret is too short to be one")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret.key.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secret + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(draft, path)
    finally:
        Path(draft).unlink()
    fsync_directory(path.parent)
    return path


def _journal_entries(
    settings: Settings, journals: Sequence[Path]
) -> tuple[list[Path], list[Entry], int, list[Entry]]:
    """The journals, every entry to apply (merged by date), how many lines could not be read;
    and the entries of journals other than this site's, which this site's journal takes in,
    so that it alone covers the restored database from now on."""
    own = settings.resolved_journal_file
    paths = list(journals) or ([own] if own.exists() else [])
    for path in paths:
        if not path.is_file():
            raise BackupError(f"{path}: no such journal")
    foreign = [p for p in paths if not (own.exists() and p.samefile(own))]
    try:
        read = journal.read(paths)
        already = set(journal.read([own]).entries) if own.exists() else set()
        carried = [e for e in journal.read(foreign).entries if e not in already]
    except OSError as exc:
        raise BackupError(f"cannot read the journal: {exc}") from exc
    return paths, read.entries, read.unreadable, carried


@dataclass(frozen=True, slots=True)
class _Apply:
    """What follows the database's return: the journal, the counters, the purge."""

    settings: Settings
    entries: list[Entry]
    carried: list[Entry]
    now: datetime
    done: Restored
    secret: bytes | None  # the backup's, for var/secret.key when none is configured here

    def place_secret(self) -> None:
        """Before the database is in place: a server started on it never makes a new one."""
        if self.secret is not None:
            path = self.settings.var_dir / "secret.key"
            self.done.secret_written = _write_secret(path, self.secret)

    async def __call__(self, url: str) -> None:
        engine = db.create_engine(url)
        try:
            sessions = db.create_session_factory(
                engine, Journal(self.settings.resolved_journal_file)
            )
            async with sessions() as session, session.begin():
                await db.off_loop(session)
                self.done.replayed = await replay.replay(session, self.entries)
                journal.carry(session, self.carried)
                self.done.counters_repaired = len(await reconcile.check(session, fix=True))
                policy = retention.Policy.from_settings(self.settings)
                self.done.purged = (await retention.purge(session, self.now, policy)).total
            await db.scrub(engine)
        finally:
            await engine.dispose()


def _restore_sqlite(
    target: Path, dump: Path, manifest: dict[str, Any], apply: _Apply, *, force: bool
) -> None:
    """On a copy beside the target, renamed over it once everything succeeded."""
    tables = _sqlite_tables(target)
    if tables and not force:
        raise BackupError(_live(str(target), tables))
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.restore-")
    os.close(fd)
    draft = Path(name)
    try:
        shutil.copyfile(dump, draft)
        connection = sqlite3.connect(draft)
        try:
            check_sqlite(connection, what="the database in the archive")
            _check_revision(manifest, sqlite_revision(connection))
        finally:
            connection.close()
        migrate.upgrade(f"sqlite:///{draft}")
        asyncio.run(apply(f"sqlite:///{draft}"))
        _compact_sqlite(draft)
        apply.place_secret()
        for suffix in ("-wal", "-shm"):  # the old database's log would corrupt the new one
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        draft.replace(target)
        fsync_directory(target.parent)
    finally:
        for leftover in (draft, *(Path(f"{draft}{s}") for s in ("-wal", "-shm", "-journal"))):
            leftover.unlink(missing_ok=True)


def _sqlite_tables(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
            return int(found.fetchone()[0])
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return 1  # something that is not an empty database: not ours to overwrite unasked


def _compact_sqlite(path: Path) -> None:
    """Rebuild the file without its free pages, where erased values may linger, and leave
    no write-ahead log beside it (the server turns WAL on again when it opens it)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA secure_delete=ON")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("VACUUM")
        check_sqlite(connection, what="the restored database")
    finally:
        connection.close()


def _restore_postgresql(
    url: str, dump: Path, manifest: dict[str, Any], apply: _Apply, *, force: bool
) -> None:
    tables = asyncio.run(_pg_tables(url))
    if tables and not force:
        raise BackupError(_live(safe(url), tables))
    conninfo, env = libpq(url)
    run(["pg_restore", "--list", str(dump)], env)  # a readable archive, before anything
    run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--no-password",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env,
    )
    _check_revision(manifest, asyncio.run(pg_revision(url)))
    apply.place_secret()
    try:
        migrate.upgrade(url)
        asyncio.run(apply(url))
        asyncio.run(_pg_vacuum(url))
    except Exception as exc:
        raise BackupError(
            f"the backup was restored, but the erasure journal could not be applied ({exc}):"
            " the database holds people who withdrew since. Do not start the server; run"
            " `petition restore` again with --force once the cause is fixed"
        ) from exc


async def _pg_tables(url: str) -> int:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT count(*) FROM information_schema.tables"
                    " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            )
            return int(found or 0)
    finally:
        await engine.dispose()


async def _pg_vacuum(url: str) -> None:
    """Rewrite the tables erasures touched, so that the old row versions leave their files."""
    tables = ", ".join(db.table(model).name for model in (Signature, SignatureToken, OutboxMail))
    engine = db.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"VACUUM FULL {tables}"))
    finally:
        await engine.dispose()


def _check_revision(manifest: dict[str, Any], found: str | None) -> None:
    if found != manifest.get("alembic_revision"):
        raise BackupError(
            f"the restored database is at schema revision {found}, its manifest says"
            f" {manifest.get('alembic_revision')}: the archive is not what it claims"
        )


def _live(where: str, tables: int) -> str:
    return (
        f"{where} already holds a database ({tables} tables): restoring would replace it."
        " Stop the server, and run again with --force to replace it"
    )
