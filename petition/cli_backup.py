"""`petition backup` and `petition restore`: backups that keep erasures (petition.backups,
petition.restore)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from petition import backups, restore
from petition.backup_files import BackupError
from petition.models import utcnow
from petition.settings import Settings, SettingsError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="copy the database into one archive and the server secret into a file beside it"
        " (while the server runs)",
    )
    backup.add_argument(
        "--to",
        type=_destination,
        metavar="FILE",
        help="the archive to write, or a directory for it, made if it ends with / (default:"
        " <var_dir>/backups/petition-<UTC time>.tar, .tar.age when encrypted)",
    )
    backup.add_argument(
        "--age-recipient",
        metavar="age1...",
        help="encrypt both files to this age public key (default: PETITION_BACKUP_AGE_RECIPIENT)",
    )
    backup.set_defaults(handler=_backup)

    restore_command = commands.add_parser(
        "restore",
        help="restore a backup, then apply again the erasures journalled since (server stopped)",
    )
    restore_command.add_argument("file", type=Path, metavar="FILE")
    restore_command.add_argument(
        "--secret",
        type=Path,
        metavar="FILE",
        help="the backup's server secret (default: the .SERVER-SECRET.key file beside FILE)",
    )
    restore_command.add_argument(
        "--identity",
        type=Path,
        metavar="AGE_IDENTITY_FILE",
        help="the age secret key file, for an encrypted backup",
    )
    restore_command.add_argument(
        "--journal",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="an erasure journal to apply (default: PETITION_JOURNAL_FILE); repeat it for the"
        " journal of each host",
    )
    restore_command.add_argument(
        "--force",
        action="store_true",
        help="replace a database that holds tables, or keep a different secret configured here",
    )
    restore_command.set_defaults(handler=_restore)


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    recipient = args.age_recipient or settings.backup_age_recipient
    try:
        made = backups.backup(settings, to=args.to, recipient=recipient, now=utcnow())
    except (BackupError, SettingsError, OSError) as exc:
        print(f"petition: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"archive: {made.archive}")
    print(f"server secret: {made.secret}")
    print(
        "Store these two files apart: whoever holds both can tell whether an address signed."
        f" Keep the erasure journal ({settings.resolved_journal_file}) where it is:"
        " `petition restore` applies it again, and nothing must replace it with an older copy.",
        file=sys.stderr,
    )
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    try:
        done = restore.restore(
            settings,
            args.file,
            secret_file=args.secret,
            identity_file=args.identity,
            journals=args.journal,
            force=args.force,
            now=utcnow(),
        )
    except (BackupError, OSError) as exc:
        print(f"petition: restore refused or failed: {exc}", file=sys.stderr)
        return 1
    replayed = done.replayed
    print(f"restored {done.target} from the backup taken {done.manifest['taken_at']}")
    print(
        f"erasure journal: {replayed.entries} entries replayed, {replayed.applied} of them"
        f" changed something; {replayed.erased} signatures re-erased ({replayed.withdrawn}"
        f" withdrawn, {replayed.deleted} deleted, {replayed.anonymised_signatures} in"
        f" {replayed.anonymised} anonymised campaigns), {replayed.invalidated} invalidated,"
        f" {replayed.restored} restored, {replayed.released} released again"
    )
    if not done.journals:
        print(
            "petition: WARNING: no erasure journal was applied (none given with --journal, none"
            f" at {settings.resolved_journal_file}): whoever withdrew or was invalidated after"
            " this backup is back. If this site had a journal elsewhere, run again with"
            " --force --journal FILE",
            file=sys.stderr,
        )
    if done.unreadable:
        print(
            f"petition: {done.unreadable} journal lines could not be read and were skipped"
            " (the remains of a write a crash cut short, or damage: look at them)",
            file=sys.stderr,
        )
    if done.carried:
        print(f"{done.carried} entries of other journals added to {settings.resolved_journal_file}")
    print(f"counters repaired: {done.counters_repaired}; retention purge: {done.purged} rows")
    if done.secret_written is not None:
        print(f"server secret restored into {done.secret_written}")
    return 0


def _destination(value: str) -> Path:
    """`--to`: a file, or a directory — one that exists, or one written with a final slash,
    which is made (readable by its owner only: the archives hold signers' names)."""
    path = Path(value)
    if value.endswith(("/", os.sep)):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
