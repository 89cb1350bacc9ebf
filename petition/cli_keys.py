"""The command line of sealed names: reader keys, and opening a sealed export.

`petition keys create` and `petition export open` are meant for a reader's own machine: they
touch no database and need no server settings.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from petition import (
    audit,
    campaigns,
    db,
    exports,
    organisers,
    readers,
    sealed_exports,
    sealing,
)
from petition.db import create_engine, create_session_factory
from petition.models import utcnow
from petition.settings import Settings

OPEN_FORMATS = ("csv", "ods", "json")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="readers' keys of sealed names").add_subparsers(
        title="keys commands"
    )
    create = keys.add_parser(
        "create", help="make a key pair: NAME.pub for the server, NAME.key for you alone"
    )
    create.add_argument("name", type=Path, metavar="NAME")
    create.add_argument(
        "--passphrase", action="store_true", help="put the secret key under a passphrase (asked)"
    )
    create.set_defaults(handler=_create)
    add = keys.add_parser("add", help="give an organiser their public key (campaigns rotate)")
    add.add_argument("email")
    add.add_argument("public_key", type=Path, metavar="FILE.pub")
    add.set_defaults(handler=_add)
    keys.add_parser(
        "check", help="say which sealed campaigns have no current reader (exit 1 if any)"
    ).set_defaults(handler=_check)
    share = keys.add_parser(
        "share",
        help="give readers who joined later the campaign's older signatures, with a reader's key",
    )
    share.add_argument("slug")
    share.add_argument("--key", type=Path, required=True, metavar="KEYFILE")
    share.set_defaults(handler=_share)
    opening = commands.add_parser(
        "export-open", help="open a sealed export with your secret key (on your own machine)"
    )
    opening.add_argument("file", type=Path)
    opening.add_argument("--key", type=Path, required=True, metavar="KEYFILE")
    opening.add_argument("--format", choices=OPEN_FORMATS, default="csv")
    opening.add_argument("--output", type=Path, help="file to write (default: standard output)")
    opening.set_defaults(handler=_open)


def spelled(argv: list[str]) -> list[str]:
    """`petition export open …` is `export-open` (a campaign cannot be named `open`)."""
    return ["export-open", *argv[2:]] if argv[:2] == ["export", "open"] else argv


def write_key_pair(name: Path, passphrase: str | None) -> tuple[Path, Path]:
    """NAME.pub and NAME.key (mode 0600, created, never overwritten)."""
    public, secret = sealing.new_key_pair()
    public_path, secret_path = name.with_suffix(".pub"), name.with_suffix(".key")
    _write_secret(secret_path, secret, passphrase)
    public_path.write_text(sealing.encode_public(public) + "\n", encoding="ascii")
    return public_path, secret_path


def campaign_key_file(var_dir: Path, slug: str) -> tuple[Path, bytes]:
    """A new key pair for a campaign created without a reader key: the secret half in
    `<var_dir>/keys/<slug>.key` (mode 0600, never overwritten), the public half returned for
    the database, which keeps it."""
    folder = var_dir / "keys"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    public, secret = sealing.new_key_pair()
    secret_path = (folder / slug).with_suffix(".key")
    _write_secret(secret_path, secret, None)
    return secret_path, public


def _write_secret(path: Path, secret: bytes, passphrase: str | None) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(sealing.encode_secret(secret, passphrase) + "\n")


def tell_where(secret_path: Path) -> None:
    print(
        f"petition: what signers do not publish is sealed to a new key. Its secret half is in"
        f" {secret_path}: move it off this server and keep a copy somewhere safe. It alone opens"
        f" the campaign's names (petition export open FILE --key KEYFILE); without it they are"
        f" lost, not the count.",
        file=sys.stderr,
    )


def read_public(path: Path) -> bytes:
    return sealing.decode_public(path.read_text(encoding="ascii"))


def _create(_settings: Settings, args: argparse.Namespace) -> int:
    passphrase = _new_passphrase() if args.passphrase else None
    try:
        public_path, secret_path = write_key_pair(args.name, passphrase)
    except FileExistsError as exc:
        print(f"petition: {exc.filename} exists already; nothing written", file=sys.stderr)
        return 1
    print(f"public key:  {public_path} (give it to the server: petition keys add EMAIL FILE)")
    print(f"secret key:  {secret_path} (keep it off the server, and keep a copy somewhere safe:")
    print("             without it, the names it can open are lost)")
    return 0


def _add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        public = read_public(args.public_key)
    except (OSError, UnicodeError, sealing.SealError) as exc:
        print(f"petition: {args.public_key}: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_add_key(settings, args.email, public))


async def _add_key(settings: Settings, email: str, public: bytes) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            secret = settings.load_secret_key()
            organiser = await organisers.find(session, secret=secret, email=email)
            if organiser is None:
                print("petition: no organiser with this address", file=sys.stderr)
                return 1
            try:
                await readers.add_organiser_key(session, organiser.id, public, utcnow())
            except readers.KeyInUse:
                print("petition: this public key is given already", file=sys.stderr)
                return 1
        await db.scrub(engine)  # clear copies of newly sealed signatures, out of the files too
        print(f"key {sealing.fingerprint(public)} added for {organiser.name}")
        return 0
    finally:
        await engine.dispose()


def _share(settings: Settings, args: argparse.Namespace) -> int:
    try:
        key_text = args.key.read_text(encoding="ascii")
        passphrase = getpass.getpass("passphrase: ") if sealing.is_wrapped(key_text) else None
        secret = sealing.decode_secret(key_text, passphrase)
    except (OSError, UnicodeError, sealing.SealError) as exc:
        print(f"petition: {args.key}: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_share_with(settings, args.slug, secret))


async def _share_with(settings: Settings, slug: str, secret: bytes) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            campaign = await campaigns.get_by_slug(session, slug)
            if campaign is None:
                print(f"petition: no campaign {slug}", file=sys.stderr)
                return 1
            lacking = await readers.wanted(session, campaign.id)
            try:
                given = readers.sealed_for(
                    await readers.grants(session, campaign.id), lacking, secret
                )
            except sealing.SealError as exc:
                print(f"petition: {exc}", file=sys.stderr)
                return 1
            if lacking and not given:
                print("petition: this key holds none of the data keys the others lack")
                return 1
            await readers.share(session, campaign.id, given)
            await audit.record(session, campaign, None, "share keys", {}, len(given), utcnow())
        print(f"{len(given)} grant(s) shared; {len(lacking) - len(given)} still lacking")
        return 0
    finally:
        await engine.dispose()


def _check(settings: Settings, _args: argparse.Namespace) -> int:
    return asyncio.run(_check_all(settings))


async def _check_all(settings: Settings) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            found = await readers.health(session)
    finally:
        await engine.dispose()
    for item in found:
        if not item.sealed:
            print(f"{item.slug}\tnot sealed: names kept in clear (petition keys add)")
        elif item.readers == 0:
            print(f"{item.slug}\tAT RISK: sealed, and no current reader key")
        elif item.orphaned:
            keys = ", ".join(str(k) for k in item.orphaned)
            print(
                f"{item.slug}\tAT RISK: {item.readers} reader(s); signatures sealed under data"
                f" key(s) {keys} open only with retired keys"
            )
        else:
            print(f"{item.slug}\tsealed, {item.readers} current reader(s)")
    return 1 if any(item.at_risk for item in found) else 0


def _open(_settings: Settings, args: argparse.Namespace) -> int:
    try:
        key_text = args.key.read_text(encoding="ascii")
        passphrase = getpass.getpass("passphrase: ") if sealing.is_wrapped(key_text) else None
        secret = sealing.decode_secret(key_text, passphrase)
        opened = sealed_exports.open_file(args.file.read_text(encoding="utf-8"), secret)
    except (OSError, UnicodeError, ValueError, sealing.SealError) as exc:
        print(f"petition: {exc}", file=sys.stderr)
        return 1
    asyncio.run(_write(args, opened))
    print(f"{len(opened.rows)} signatures opened", file=sys.stderr)
    return 0


async def _write(args: argparse.Namespace, opened: sealed_exports.Opened) -> None:
    async def source() -> AsyncIterator[exports.Row]:
        for row in opened.rows:
            yield row

    layout = exports.for_programs(opened.time_zone)
    chunks = exports.stream_named(args.format, opened.campaign, source(), layout)
    with args.output.open("wb") if args.output else sys.stdout.buffer as out:
        async for chunk in chunks:
            out.write(chunk)


def _new_passphrase() -> str:
    first = getpass.getpass("passphrase for the secret key: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("petition: the two passphrases differ; nothing written")
    return first
