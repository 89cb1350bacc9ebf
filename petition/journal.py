"""The erasure journal: what was withdrawn, invalidated, restored, released or purged, kept
outside the database, so that a restore from an older backup can apply it again.

A backup holds the people who withdrew after it was taken; restoring it alone would bring them
back, named and counted (GDPR art. 17). Every change of that kind is therefore also written to a
file the restore does not replace: JSON lines, appended, fsync'd, mode 0600, holding no personal
data — dates, kinds, campaign ids, signature ids and the signatures' keyed email hashes (already
HMACs), which let the restore tell a signature from a later one that reuses its id.

Domain functions `note` what they change on the session they were given; the notes wait in
`session.info` and reach the file, in one append, when that session's transaction commits (a
`before_commit` event on the sessions of factories given a journal: `session_options`).
"""

from __future__ import annotations

import asyncio
import fcntl
import heapq
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

VERSION = 1
WITHDRAWAL = "withdrawal"  # signing.erase: the withdrawal link, the manage page
INVALIDATION = "invalidation"  # moderation.invalidate, quarantined ones too
RESTORATION = "restoration"  # moderation.restore
RELEASE = "release"  # quarantine.release
DELETION = "deletion"  # retention: never-confirmed signatures deleted
ANONYMISATION = "anonymisation"  # retention: a closed campaign's personal data erased
UNSUBSCRIPTION = "unsubscription"  # subscriptions.unsubscribe: a kept address erased
KINDS = frozenset(
    {WITHDRAWAL, INVALIDATION, RESTORATION, RELEASE, DELETION, ANONYMISATION, UNSUBSCRIPTION}
)

_JOURNAL = "petition.journal"
_NOTES = "petition.journal.notes"

SignatureRef = tuple[int, str | None]  # a signature's id and keyed email hash (None if erased)


class JournalError(ValueError):
    """A journal line that cannot be read, or a journal that cannot be used."""


class NoJournal(RuntimeError):
    """A change that must be journalled, on a session whose factory was given no journal."""


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    kind: str
    campaign: int
    signatures: tuple[SignatureRef, ...] = ()

    def line(self) -> bytes:
        stamp = self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        document = {
            "v": VERSION,
            "at": stamp,
            "kind": self.kind,
            "campaign": self.campaign,
            "signatures": [list(ref) for ref in self.signatures],
        }
        return json.dumps(document, separators=(",", ":")).encode("ascii") + b"\n"

    @classmethod
    def parse(cls, raw: str) -> Entry:
        try:
            document = json.loads(raw)
            if document["v"] != VERSION or document["kind"] not in KINDS:
                raise JournalError(f"unknown version or kind: {raw[:80]!r}")
            at = datetime.fromisoformat(document["at"])
            refs = tuple((int(ident), _hash(value)) for ident, value in document["signatures"])
            return cls(at.astimezone(UTC), document["kind"], int(document["campaign"]), refs)
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalError(f"unreadable journal line: {exc}") from exc


def _hash(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("an email hash is a string or null")


@dataclass(frozen=True, slots=True)
class Journal:
    path: Path

    def ensure(self) -> None:
        """Make the journal, empty, if it does not exist: a site that has erased nothing yet
        has one all the same, and a restore told of a missing journal knows it was moved."""
        self.append([])

    def append(self, entries: Sequence[Entry]) -> None:
        """Add the entries at the end, in one write, on disk before returning."""
        data = b"".join(entry.line() for entry in entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC  # read: its last byte
        fd = os.open(self.path, flags, 0o600)
        try:
            # Processes of one site append to one file: one at a time, each write whole.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _ends_mid_line(fd):  # a write cut short by a crash: keep its remains apart
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the file's name must survive a power loss as well as its contents
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)


def _ends_mid_line(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def session_options(journal: Journal | None) -> dict[str, Any]:
    """What a session factory is built with so that its sessions journal what they change.

    Without a journal, its sessions refuse every `note`: no path that erases can forget it.
    """
    if journal is None:
        return {}
    if not event.contains(JournalledSession, "before_commit", _before_commit):
        event.listen(JournalledSession, "before_commit", _before_commit)
        event.listen(JournalledSession, "after_soft_rollback", _after_soft_rollback)
    return {"sync_session_class": JournalledSession, "info": {_JOURNAL: journal}}


class JournalledSession(Session):
    """A session whose notes reach its journal when its transaction commits."""


def note(
    session: AsyncSession | Session,
    kind: str,
    campaign_id: int,
    rows: Iterable[Any],
    *,
    at: datetime,
) -> None:
    """Journal a change to these signatures (id, email hash) once the transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown journal kind {kind!r}")
    refs = tuple((int(ident), email_hash) for ident, email_hash in rows)
    if kind != ANONYMISATION and not refs:
        _journal_of(session)  # nothing changed, but a session without a journal still fails
        return
    carry(session, [Entry(at, kind, campaign_id, refs)])


def carry(session: AsyncSession | Session, entries: Sequence[Entry]) -> None:
    """Journal entries as they are (read from another journal) when the transaction commits."""
    _journal_of(session)
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    # Kept with the (innermost) transaction they belong to: a savepoint rolled back drops them.
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_NOTES, []).extend((entry, transaction) for entry in entries)


def _journal_of(session: AsyncSession | Session) -> Journal:
    journal = session.info.get(_JOURNAL)
    if not isinstance(journal, Journal):
        raise NoJournal("this change must be journalled, and this session has no journal")
    return journal


def _before_commit(session: Session) -> None:
    # Written before the database commits: a crash in between leaves an entry for a change
    # that did not happen (replayed, it withdraws or invalidates once more what its signer or
    # organiser asked for: the safe direction), never a committed change without its entry.
    # A savepoint's release comes here too, and writes what was noted so far, for the same
    # reason; a failed write fails the commit, and the change is not acknowledged.
    notes = session.info.pop(_NOTES, None)
    if not notes:
        return
    journal = session.info[_JOURNAL]
    entries = [entry for entry, _transaction in notes]
    if in_greenlet():  # an AsyncSession's commit: the fsync waits in a thread, not the loop
        await_(_in_thread(journal, entries))
    else:
        journal.append(entries)


async def _in_thread(journal: Journal, entries: list[Entry]) -> None:
    await asyncio.to_thread(journal.append, entries)


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    notes = session.info.get(_NOTES)
    if notes:
        session.info[_NOTES] = [(e, t) for e, t in notes if not _within(t, previous)]


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


@dataclass(frozen=True, slots=True)
class Read:
    entries: list[Entry]  # every journal's, merged by date, each file's own order kept
    unreadable: int  # lines skipped: the remains of a write a crash cut short, or damage


def read(paths: Sequence[Path]) -> Read:
    """Entries of these journals, merged by date; a missing file raises FileNotFoundError.

    Within one file the order is the order of the commits, which the database's locks made
    the order of changes to the same signature: it is kept even where dates disagree (a
    request's time is taken before its transaction waits). Files of different hosts are
    interleaved by date.
    """
    files: list[list[Entry]] = []
    unreadable = 0
    for path in paths:
        entries: list[Entry] = []
        with path.open(encoding="utf-8", errors="replace") as lines:
            for raw in lines:
                if not raw.strip():
                    continue
                try:
                    entries.append(Entry.parse(raw))
                except JournalError:
                    unreadable += 1
        files.append(entries)
    return Read(list(heapq.merge(*files, key=lambda entry: entry.at)), unreadable)
