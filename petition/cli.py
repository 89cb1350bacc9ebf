"""The `petition` command: serve, worker, db upgrade, campaign create / list, and more."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from petition import (
    campaigns,
    changes,
    cli_backup,
    cli_doctor,
    cli_keys,
    counts,
    db,
    exports,
    four_eyes,
    logs,
    migrate,
    organisers,
    privacy,
    readers,
    reconcile,
    retention,
    sealed_exports,
    sealing,
)
from petition.bus import bus_for
from petition.db import create_engine, create_read_engine, create_session_factory
from petition.forms import clean_email
from petition.journal import Journal
from petition.models import Role, SignatureStatus, utcnow
from petition.settings import Settings, SettingsError
from petition.signing import Links


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(cli_keys.spelled(list(sys.argv[1:] if argv is None else argv)))
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"petition: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(settings, args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petition", description="Petitions and open letters.")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="serve the site (PETITION_HOST, PETITION_PORT)")
    serve.set_defaults(handler=_serve)
    commands.add_parser(
        "worker", help="send mail and run the scheduled jobs apart from the web processes"
    ).set_defaults(handler=_worker)

    db = commands.add_parser("db", help="database").add_subparsers(title="db commands")
    db.add_parser("upgrade", help="apply the migrations").set_defaults(handler=_db_upgrade)

    campaign = commands.add_parser("campaign", help="campaigns").add_subparsers(
        title="campaign commands"
    )
    create = campaign.add_parser("create", help="create a campaign from a Markdown file")
    create.add_argument("file", type=Path)
    create.add_argument(
        "--if-none", action="store_true", help="only when the database has no campaign yet"
    )
    create.add_argument(
        "--reader-key",
        type=Path,
        metavar="FILE.pub",
        help="seal what signers do not publish to this key (petition keys create)",
    )
    create.set_defaults(handler=_campaign_create)
    campaign.add_parser("list", help="list campaigns and their counts").set_defaults(
        handler=_campaign_list
    )

    organiser = commands.add_parser("organiser", help="organisers").add_subparsers(
        title="organiser commands"
    )
    add = organiser.add_parser("add", help="add an organiser and print a link to set a password")
    add.add_argument("email")
    add.add_argument("--name", required=True, help="shown in the dashboard and the audit log")
    add.add_argument("--campaign", metavar="SLUG", help="give a role on this campaign")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.OWNER.value)
    add.set_defaults(handler=_organiser_add)

    export = commands.add_parser("export", help="export a campaign's signatures (audited)")
    export.add_argument("slug")
    export.add_argument(
        "--format", choices=(*exports.FORMATS, "sealed"), help="csv; sealed on a sealed campaign"
    )
    export.add_argument("--status", choices=["confirmed", "pending"], default="confirmed")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=_export)

    counts_cmd = commands.add_parser("counts", help="counters").add_subparsers(
        title="counts commands"
    )
    check = counts_cmd.add_parser(
        "check", help="compare counters with confirmed signatures (exit 1 on drift without --fix)"
    )
    check.add_argument("--fix", action="store_true", help="repair the counters that drifted")
    check.set_defaults(handler=_counts_check)

    purge = commands.add_parser(
        "purge", help="delete what the retention periods say must go (the server does it hourly)"
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="say what would be deleted, delete nothing"
    )
    purge.set_defaults(handler=_purge)
    cli_keys.register(commands)
    cli_backup.register(commands)
    cli_doctor.register(commands)
    return parser


def _secret_ready(settings: Settings) -> bool:
    """The server secret exists (made now if need be); a missing or unreadable one is said."""
    try:
        settings.load_secret_key()
    except (SettingsError, OSError) as exc:
        print(f"petition: {exc}", file=sys.stderr)
        return False
    return True


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    if not _secret_ready(settings):  # made here, once, before the workers start
        return 2
    if settings.metrics_token:
        _share_metrics(settings.var_dir / "metrics")
    json_logs = settings.log_format == "json"
    app = "petition.app:create_app_from_env"
    if settings.server == "granian":
        from granian.constants import HTTPModes, Interfaces
        from granian.server import Server

        # No access log (paths carry secret tokens) and no proxy header believed: the app
        # alone judges them. But granian adds `Server: granian` to every answer, and nothing
        # turns it off (emmett-framework/granian#594): the reverse proxy must drop it. Its
        # `asgi` interface runs the lifespan in each worker, where petition.stopping ends live
        # streams on SIGTERM; it then waits for the responses in progress with no limit of its
        # own: past 15 s (5 for responses, as under uvicorn, 10 for the mail sender's batch)
        # the worker is killed.
        Server(
            app,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            factory=True,
            workers=settings.workers,
            http=HTTPModes.http1,  # what uvicorn speaks; the reverse proxy speaks HTTP/1.1
            websockets=False,  # no route uses them
            log_access=False,
            log_dictconfig=logs.json_config("_granian", "granian.access") if json_logs else None,
            workers_kill_timeout=15,
        ).serve()
        return 0

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    uvicorn.run(
        app,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # Access logs would record paths, and confirmation paths carry secret tokens.
        access_log=False,
        server_header=False,
        proxy_headers=False,
        ws="none",  # no route uses them (uvicorn[standard] would otherwise speak them)
        # Live streams never end by themselves: at shutdown, give them this long, then close.
        timeout_graceful_shutdown=5,
        log_config=logs.json_config("uvicorn") if json_logs else LOGGING_CONFIG,
    )
    return 0


def _share_metrics(directory: Path) -> None:
    """Where the workers write their figures, for a scrape to add them up: emptied, since
    counters start again with the server. prometheus_client reads the variable when first
    imported, in each worker: it must be set before any starts."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    for left in directory.glob("*.db"):
        left.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from petition import worker  # the web stack loads for the commands that need it only

    if not _secret_ready(settings):
        return 2
    asyncio.run(worker.run(settings))
    return 0


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    migrate.upgrade(settings.resolved_database_url)
    Journal(settings.resolved_journal_file).ensure()  # beside the database from its first day
    print("database is up to date")
    return 0


def _campaign_create(settings: Settings, args: argparse.Namespace) -> int:
    try:
        spec = campaigns.parse_campaign_file(args.file.read_text(encoding="utf-8"))
    except (OSError, campaigns.CampaignFileError) as exc:
        print(f"petition: {args.file}: {exc}", file=sys.stderr)
        return 1
    reader = None
    if args.reader_key is not None:
        try:
            reader = cli_keys.read_public(args.reader_key)
        except (OSError, UnicodeError, sealing.SealError) as exc:
            print(f"petition: {args.reader_key}: {exc}", file=sys.stderr)
            return 1
    return asyncio.run(_create(settings, spec, only_if_none=args.if_none, reader=reader))


async def _create(
    settings: Settings,
    spec: campaigns.CampaignSpec,
    *,
    only_if_none: bool,
    reader: bytes | None = None,
) -> int:
    engine = create_engine(settings.resolved_database_url)
    made: Path | None = None
    try:
        async with create_session_factory(engine)() as session, session.begin():
            if only_if_none and await campaigns.any_exists(session):
                print("a campaign exists already; nothing created")
                return 0
            if await campaigns.get_by_slug(session, spec.slug) is not None:
                print(f"petition: a campaign named {spec.slug!r} exists already", file=sys.stderr)
                return 1
            if reader is None:  # sealed by default: a key pair, its secret half in a file
                try:
                    made, reader = cli_keys.campaign_key_file(settings.var_dir, spec.slug)
                except FileExistsError as exc:
                    print(f"petition: {exc.filename} exists already (another campaign's key?):"
                          " move it away, or give --reader-key", file=sys.stderr)  # fmt: skip
                    return 1
            try:
                campaign = await campaigns.create(session, spec, now=utcnow(), tz=settings.timezone)
                await privacy.current(session, campaign, settings, utcnow())
                await readers.add_campaign_key(session, campaign, reader, utcnow())
            except campaigns.SlugTaken:
                print(f"petition: a campaign named {spec.slug!r} exists already", file=sys.stderr)
                return 1
        print(Links(settings.public_url).campaign(campaign.slug))
        if made is not None:
            cli_keys.tell_where(made)
        made = None  # committed: the file is the campaign's key now
        return 0
    finally:
        if made is not None:
            made.unlink(missing_ok=True)  # nothing was created: no key for it either
        await engine.dispose()


def _organiser_add(settings: Settings, args: argparse.Namespace) -> int:
    email, problem = clean_email(args.email)
    if problem:
        print(f"petition: {args.email!r} is not an email address", file=sys.stderr)
        return 1
    return asyncio.run(_add_organiser(settings, email, args))


async def _add_organiser(settings: Settings, email: str, args: argparse.Namespace) -> int:
    engine = create_engine(settings.resolved_database_url)
    now = utcnow()
    try:
        async with create_session_factory(engine)() as session, session.begin():
            campaign = (
                await campaigns.get_by_slug(session, args.campaign) if args.campaign else None
            )
            if args.campaign and campaign is None:
                print(f"petition: no campaign {args.campaign!r}", file=sys.stderr)
                return 1
            secret = settings.load_secret_key()
            organiser = await organisers.find(session, secret=secret, email=email)
            if organiser is None:
                organiser = await organisers.add(
                    session, secret=secret, email=email, name=args.name, now=now
                )
            if campaign is not None:
                await organisers.grant(session, organiser, campaign, Role(args.role))
                await readers.follow(session, campaign, now)
                await four_eyes.member_added(session, campaign, None, now)  # on with two
                await privacy.current(session, campaign, settings, now)
            token = None
            if organiser.password_hash is None:
                # Another invitation's link, if any, keeps working: either one will do.
                token = await organisers.password_link(
                    session,
                    organiser,
                    now=now,
                    valid_for=timedelta(days=settings.invitation_days),
                    void_earlier=False,
                )
        if token is None:
            print(f"{organiser.name} has an account already: they sign in at", file=sys.stderr)
            print(f"{settings.public_url}/organiser/login")
        else:
            print(f"{settings.public_url}/organiser/password/{token}")
            print(
                f"(valid {settings.invitation_days} days; give it to {args.name} only)",
                file=sys.stderr,
            )
        print(_base_url_origin(settings), file=sys.stderr)
        return 0
    finally:
        await engine.dispose()


def _base_url_origin(settings: Settings) -> str:
    """Where the address in a printed link comes from, so that a wrong one is noticed."""
    if settings.base_url:
        return f"(address from PETITION_BASE_URL: {settings.public_url})"
    return (
        "(PETITION_BASE_URL is not set here, so the address is made of PETITION_HOST and"
        f" PETITION_PORT: {settings.public_url}. If the server runs with other settings, run"
        " this with its environment, e.g. set -a; . /etc/petition/env; set +a)"
    )


def _export(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_export_to(settings, args))


async def _export_to(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings.resolved_database_url)
    read_engine = create_read_engine(settings.resolved_database_url)
    sessions = create_session_factory(engine)
    filters = exports.ExportFilter(status=SignatureStatus(args.status))
    try:
        async with sessions() as session, session.begin():
            campaign = await campaigns.get_by_slug(session, args.slug)
            if campaign is None:
                print(f"petition: no campaign {args.slug!r}", file=sys.stderr)
                return 1
            fmt = args.format or ("sealed" if campaign.sealed else "csv")
            count = await exports.record(session, campaign, None, fmt, filters, utcnow())
        if campaign.sealed and fmt != "sealed":
            print(
                "petition: this campaign is sealed: this file has only what signers published"
                " (--format sealed for a file its readers open)",
                file=sys.stderr,
            )
        reads = create_session_factory(read_engine)
        chunks = (
            sealed_exports.stream(reads, campaign, filters, settings.timezone)
            if fmt == "sealed"
            # For scripts: column names and stored codes, dates in the campaign's zone.
            else exports.stream(
                fmt,
                campaign,
                exports.rows(reads, campaign, filters),
                exports.for_programs(settings.timezone),
            )
        )
        with args.output.open("wb") if args.output else sys.stdout.buffer as out:
            async for chunk in chunks:
                out.write(chunk)
        print(f"{count} signatures exported (recorded in the audit log)", file=sys.stderr)
        return 0
    finally:
        await engine.dispose()
        await read_engine.dispose()


def _campaign_list(settings: Settings, _args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings))


async def _list(settings: Settings) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            listed = await campaigns.list_all(session)
            totals = await counts.confirmed_by_campaign(session)
        now = utcnow()
        links = Links(settings.public_url)
        for c in listed:
            state = "open" if c.is_open(now) else "closed"
            count = f"{totals.get(c.id, 0)}/{c.goal}" if c.goal else str(totals.get(c.id, 0))
            print("\t".join((c.slug, c.kind.value, state, count, links.campaign(c.slug))))
        return 0
    finally:
        await engine.dispose()


def _counts_check(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_check_counts(settings, fix=args.fix))


async def _check_counts(settings: Settings, *, fix: bool) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            drifts = await reconcile.check(session, fix=fix)
            if fix and drifts:
                # Servers watching PostgreSQL hear of it at once; others at their next resync.
                await bus_for(settings).in_transaction(session, changes.take(session))
    finally:
        await engine.dispose()
    for drift in drifts:
        outcome = "repaired" if fix else "run with --fix to repair"
        print(
            f"{drift.slug}: counter {drift.counted}, confirmed signatures {drift.actual}: {outcome}"
        )
    if not drifts:
        print("every counter equals its confirmed signatures")
    return 1 if drifts and not fix else 0


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_run_purge(settings, dry_run=args.dry_run))


async def _run_purge(settings: Settings, *, dry_run: bool) -> int:
    engine = create_engine(settings.resolved_database_url)
    journal = Journal(settings.resolved_journal_file)  # what it deletes, a restore deletes again
    try:
        async with create_session_factory(engine, journal)() as session:
            transaction = await session.begin()
            report = await retention.purge(
                session, utcnow(), retention.Policy.from_settings(settings)
            )
            if dry_run:
                await transaction.rollback()
            else:
                await transaction.commit()
        if not dry_run and report.total:
            await db.scrub(engine)
    finally:
        await engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    for name, count in report.items():
        print(f"{name.replace('_', ' ')}: {count}")
    print(f"{verb} or erased {report.total} rows in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
