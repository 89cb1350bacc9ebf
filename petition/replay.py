"""The erasure journal applied again, to a database restored from an older backup.

Each entry changes only the signatures whose id, campaign and keyed email hash all match it:
after a restore, signatures made later may be given the ids of ones the journal names. The
same statements as the domain functions', without journalling again (the entries are in the
journal already). Applying a whole journal twice ends where applying it once did: a withdrawn
signature stays withdrawn, an invalidation followed by its restoration ends restored.
Counters are left to `reconcile.check`, which the restore runs after.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import journal, retention, signing, subscriptions
from petition.journal import Entry
from petition.models import Campaign, Signature, SignatureStatus

# The journal keeps no reason (an organiser's words may name someone).
REPLAYED_REASON = "invalidated before a restore from backup (reason not journalled)"
_CHUNK = 1000  # ids per IN list (asyncpg takes 32767 parameters at most)
_LIVE = (SignatureStatus.PENDING, SignatureStatus.CONFIRMED, SignatureStatus.QUARANTINED)


@dataclass(slots=True)
class Replayed:
    entries: int = 0  # read and tried
    applied: int = 0  # that changed at least one row
    withdrawn: int = 0  # signatures withdrawn again, their personal data erased
    deleted: int = 0  # never-confirmed signatures deleted again
    anonymised: int = 0  # campaigns anonymised again
    anonymised_signatures: int = 0
    invalidated: int = 0
    restored: int = 0
    released: int = 0
    unsubscribed: int = 0  # kept addresses of signers who had unsubscribed erased again

    @property
    def changed(self) -> int:
        return (
            self.withdrawn
            + self.deleted
            + self.anonymised
            + self.invalidated
            + self.restored
            + self.released
            + self.unsubscribed
        )

    @property
    def erased(self) -> int:
        """Signatures whose personal data left the database again."""
        return self.withdrawn + self.deleted + self.anonymised_signatures

    def add(self, other: Replayed) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


async def replay(session: AsyncSession, entries: Iterable[Entry]) -> Replayed:
    """Apply the entries, in their order, in the caller's transaction."""
    done = Replayed()
    for entry in entries:
        outcome = await _APPLY[entry.kind](session, entry)
        outcome.entries, outcome.applied = 1, int(outcome.changed > 0)
        done.add(outcome)
    await session.flush()
    return done


async def _withdrawal(session: AsyncSession, entry: Entry) -> Replayed:
    ids = await _matching(session, entry, Signature.status != SignatureStatus.WITHDRAWN)
    for chunk in _chunks(ids):
        await signing.tombstone(session, chunk, entry.at)
    return Replayed(withdrawn=len(ids))


async def _deletion(session: AsyncSession, entry: Entry) -> Replayed:
    # Never-confirmed signatures purged, or the named rows of a paper batch deleted.
    deleted = or_(
        Signature.status == SignatureStatus.PENDING, Signature.paper_batch_id.is_not(None)
    )
    ids = await _matching(session, entry, deleted)
    await retention.delete_signatures(session, ids)
    return Replayed(deleted=len(ids))


async def _invalidation(session: AsyncSession, entry: Entry) -> Replayed:
    ids = await _matching(session, entry, Signature.status.in_(_LIVE))
    for chunk in _chunks(ids):
        await session.execute(
            update(Signature)
            .where(Signature.id.in_(chunk))
            .values(
                status=SignatureStatus.INVALIDATED,
                invalidated_at=entry.at,
                invalidation_reason=REPLAYED_REASON,
            )
        )
    return Replayed(invalidated=len(ids))


async def _restoration(session: AsyncSession, entry: Entry) -> Replayed:
    """Back to confirmed, or pending if never confirmed, as moderation.restore does."""
    ids = await _matching(session, entry, Signature.status == SignatureStatus.INVALIDATED)
    cleared = {"invalidated_at": None, "invalidation_reason": None, "quarantine_rule": None}
    for chunk in _chunks(ids):
        for confirmed, status in (
            (Signature.confirmed_at.is_not(None), SignatureStatus.CONFIRMED),
            (Signature.confirmed_at.is_(None), SignatureStatus.PENDING),
        ):
            await session.execute(
                update(Signature)
                .where(Signature.id.in_(chunk), confirmed)
                .values(status=status, **cleared)
            )
    return Replayed(restored=len(ids))


async def _release(session: AsyncSession, entry: Entry) -> Replayed:
    held = or_(
        Signature.status == SignatureStatus.QUARANTINED,
        and_(Signature.status == SignatureStatus.PENDING, Signature.quarantine_rule.is_not(None)),
    )
    ids = await _matching(session, entry, held)
    for chunk in _chunks(ids):
        await session.execute(
            update(Signature)
            .where(Signature.id.in_(chunk), Signature.status == SignatureStatus.QUARANTINED)
            .values(status=SignatureStatus.CONFIRMED, quarantine_rule=None)
        )
        await session.execute(
            update(Signature).where(Signature.id.in_(chunk)).values(quarantine_rule=None)
        )
    return Replayed(released=len(ids))


async def _anonymisation(session: AsyncSession, entry: Entry) -> Replayed:
    campaign = await session.get(Campaign, entry.campaign)
    # A campaign made after the entry, with the same id, is another campaign.
    if campaign is None or campaign.anonymised_at is not None or campaign.created_at > entry.at:
        return Replayed()
    erased = await retention.anonymise(session, campaign, entry.at)
    await session.flush()
    return Replayed(anonymised=1, anonymised_signatures=erased)


async def _unsubscription(session: AsyncSession, entry: Entry) -> Replayed:
    ids = await _matching(session, entry, Signature.id.is_not(None))
    gone = 0
    for chunk in _chunks(ids):
        gone += await subscriptions.forget(session, chunk)
    return Replayed(unsubscribed=gone)


async def _matching(session: AsyncSession, entry: Entry, state: ColumnElement[bool]) -> list[int]:
    """The entry's signatures still here, in this state, with the same campaign and hash."""
    wanted = dict(entry.signatures)
    found: list[int] = []
    for chunk in _chunks(list(wanted)):
        rows = await session.execute(
            select(Signature.id, Signature.email_hash).where(
                Signature.id.in_(chunk), Signature.campaign_id == entry.campaign, state
            )
        )
        found.extend(ident for ident, email_hash in rows.all() if email_hash == wanted[ident])
    return found


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


_APPLY: dict[str, Callable[[AsyncSession, Entry], Awaitable[Replayed]]] = {
    journal.WITHDRAWAL: _withdrawal,
    journal.DELETION: _deletion,
    journal.INVALIDATION: _invalidation,
    journal.RESTORATION: _restoration,
    journal.RELEASE: _release,
    journal.ANONYMISATION: _anonymisation,
    journal.UNSUBSCRIPTION: _unsubscription,
}
