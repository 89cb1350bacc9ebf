"""Backups that keep erasures: the database in one archive, the server secret beside it
(petition.restore puts them back and applies the erasure journal again).

`backup` copies the database while the server writes — SQLite's online backup API or
`pg_dump`, each a snapshot of one moment — into a tar archive with a manifest (format, date,
database kind, schema revision, checksum, version), and writes the server secret to a file
of its own beside it, to be stored apart: the archive alone holds addresses only as keyed
hashes. Both may be encrypted to an age public key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pyrage
from pyrage import x25519

from petition import db
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
from petition.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
DUMPS = {"sqlite": "petition.sqlite3", "postgresql": "petition.pgdump"}
SECRET_SUFFIX = ".SERVER-SECRET.key"  # noqa: S105  # a file name's ending, not a secret
AGE_SUFFIX = ".age"
_FINGERPRINT = b"petition backup: which server secret"


@dataclass(frozen=True, slots=True)
class Made:
    archive: Path
    secret: Path
    manifest: dict[str, Any]


def secret_path_for(archive: Path, *, encrypted: bool) -> Path:
    """`petition-<stamp>.tar[.age]` -> `petition-<stamp>.SERVER-SECRET.key[.age]`."""
    name = archive.name.removesuffix(AGE_SUFFIX).removesuffix(".tar")
    return archive.with_name(name + SECRET_SUFFIX + (AGE_SUFFIX if encrypted else ""))


def fingerprint(secret: bytes) -> str:
    """Tells which secret a backup was made with, and nothing of the secret itself."""
    return hmac.new(secret, _FINGERPRINT, hashlib.sha256).hexdigest()[:16]


def backup(settings: Settings, *, to: Path | None, recipient: str, now: datetime) -> Made:
    """Write the archive and the secret file (never over existing files)."""
    encrypt_to = _recipient(recipient) if recipient else None
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    default_name = f"petition-{stamp}.tar" + (AGE_SUFFIX if encrypt_to else "")
    if to is None or to.is_dir():
        archive = (to or settings.var_dir / "backups") / default_name
    else:
        archive = to
    secret_file = secret_path_for(archive, encrypted=encrypt_to is not None)
    for path in (archive, secret_file):
        if path.exists():
            raise BackupError(f"{path} exists already: choose another --to")
    secret = settings.load_secret_key()
    archive.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".petition-backup-") as work:
        drafts = Path(work)
        kind, dump, revision = _dump(settings.resolved_database_url, drafts)
        manifest = {
            "format": FORMAT,
            "taken_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "database": kind,
            "alembic_revision": revision,
            "dump": dump.name,
            "dump_sha256": _sha256(dump),
            "dump_bytes": dump.stat().st_size,
            "petition_version": _version(),
            "secret_fingerprint": fingerprint(secret),
        }
        tar = drafts / "archive.tar"
        _write_tar(tar, manifest, dump)
        key = drafts / "secret.key"
        kept = secret + b"\n"
        write_private(key, kept if encrypt_to is None else pyrage.encrypt(kept, [encrypt_to]))
        if encrypt_to is not None:
            tar = _encrypted(tar, encrypt_to)
        _place(tar, archive)
        _place(key, secret_file)
    return Made(archive, secret_file, manifest)


def _recipient(value: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(value.strip())
    except pyrage.RecipientError as exc:
        raise BackupError(f"not an age public key (age1...): {value!r} ({exc})") from exc


def _dump(url: str, drafts: Path) -> tuple[str, Path, str | None]:
    if db.is_sqlite(url):
        dump = drafts / DUMPS["sqlite"]
        return "sqlite", dump, _sqlite_copy(sqlite_path(url), dump)
    dump = drafts / DUMPS["postgresql"]
    try:
        revision = asyncio.run(pg_revision(url))
    except Exception as exc:  # the driver's own errors: unreachable, refused, unknown database
        raise BackupError(f"cannot read the database {safe(url)}: {exc}") from exc
    conninfo, env = libpq(url)
    run(["pg_dump", "--format=custom", "--no-password", f"--file={dump}", conninfo], env)
    return "postgresql", dump, revision


def _sqlite_copy(source_path: Path, dump: Path) -> str | None:
    """The whole database as of one moment, while the server writes (WAL lets it)."""
    if not source_path.is_file():
        raise BackupError(f"no database at {source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    try:
        source.execute("PRAGMA query_only=ON")
        copy = sqlite3.connect(dump)
        try:
            source.backup(copy)  # in one step: a consistent copy, never restarted
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check_sqlite(copy, what="the copy")
            return sqlite_revision(copy)
        finally:
            copy.close()
    finally:
        source.close()


def _write_tar(path: Path, manifest: dict[str, Any], dump: Path) -> None:
    document = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    with private(path) as out:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_member(MANIFEST, len(document)), io.BytesIO(document))
            with dump.open("rb") as data:
                tar.addfile(_member(dump.name, dump.stat().st_size), data)
        out.flush()
        os.fsync(out.fileno())


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(datetime.now(UTC).timestamp())
    return info


def _encrypted(path: Path, recipient: x25519.Recipient) -> Path:
    target = path.with_name(path.name + AGE_SUFFIX)
    write_private(target, b"")  # made 0600 first: the encryption writes into it
    pyrage.encrypt_file(str(path), str(target), [recipient])
    with target.open("rb") as written:
        os.fsync(written.fileno())
    return target


def _place(draft: Path, final: Path) -> None:
    """Link the finished file into place: it appears whole, and never over another."""
    try:
        os.link(draft, final)
    except FileExistsError as exc:
        raise BackupError(f"{final} exists already: choose another --to") from exc
    fsync_directory(final.parent)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _version() -> str:
    try:
        return metadata.version("petition")
    except metadata.PackageNotFoundError:
        return "unknown"
