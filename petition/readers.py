"""Who can open a campaign's sealed fields, and the data keys that follow them.

A campaign's readers are the active keys of its owners and editors (viewers see no names),
and the campaign's own key when it was created with one. Whenever that set changes — a key
given, replaced, an organiser added, moved to viewer or removed — `rotate` gives the campaign a
new data key sealed to exactly the readers of now: a removed reader holds no grant for what is
signed after the removal. Older data keys and their grants stay, for the rows sealed under them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, sealing
from petition.models import (
    Campaign,
    CampaignKey,
    CampaignOrganiser,
    KeyGrant,
    Organiser,
    Publication,
    ReaderKey,
    Role,
    Signature,
)

READING = (Role.OWNER, Role.EDITOR)


class KeyInUse(ValueError):
    """This public key is somebody's already."""


class BadGrant(ValueError):
    """A shared grant that is not one the campaign lacks, or not a sealed box: nothing written."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One data key's secret half, sealed to one reader: what an export carries to be opened."""

    campaign_key_id: int
    data_public_key: bytes
    reader_public_key: bytes
    sealed_secret: bytes


async def add_campaign_key(
    session: AsyncSession, campaign: Campaign, public: bytes, now: datetime
) -> ReaderKey:
    """The campaign's own reader (created from the command line), then a new data key."""
    key = await _new_key(session, public, now, campaign_id=campaign.id)
    await rotate(session, campaign, now)
    return key


async def add_organiser_key(
    session: AsyncSession, organiser_id: int, public: bytes, now: datetime
) -> ReaderKey:
    """An organiser's key, replacing their former one; every campaign they read rotates.
    KeyInUse, with nothing changed, when the key is somebody's already (theirs included)."""
    await _refuse_taken(session, public)
    await session.execute(
        update(ReaderKey)
        .where(ReaderKey.organiser_id == organiser_id, ReaderKey.retired_at.is_(None))
        .values(retired_at=now)
    )
    key = await _new_key(session, public, now, organiser_id=organiser_id)
    for campaign in await _campaigns_read_by(session, organiser_id):
        await rotate(session, campaign, now)
    return key


async def follow(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    """After a change of the campaign's team: a new data key if its readers are no longer
    exactly those its current data key is sealed to; whether it rotated."""
    readers = {key.id for key in await reader_keys(session, campaign.id)}
    granted: set[int] = set()
    if campaign.seal_key_id is not None:
        result = await session.execute(
            select(KeyGrant.reader_key_id).where(KeyGrant.campaign_key_id == campaign.seal_key_id)
        )
        granted = set(result.scalars())
    return readers != granted and await rotate(session, campaign, now)


async def rotate(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    """A new data key for the campaign's readers of now; False if it has none (nothing changes:
    a sealed campaign stays sealed to its last readers until it has one again)."""
    readers = await reader_keys(session, campaign.id)
    if not readers:
        return False
    public, grants = sealing.new_data_key([key.public_key for key in readers])
    first = campaign.seal_key_id is None
    await session.execute(
        update(CampaignKey)
        .where(CampaignKey.campaign_id == campaign.id, CampaignKey.retired_at.is_(None))
        .values(retired_at=now)
    )
    data_key = CampaignKey(campaign_id=campaign.id, public_key=public, created_at=now)
    session.add(data_key)
    await session.flush()
    by_public = {key.public_key: key.id for key in readers}
    session.add_all(
        KeyGrant(campaign_key_id=data_key.id, reader_key_id=by_public[reader], sealed_secret=box)
        for reader, box in grants.items()
    )
    # By statement: the caller's campaign object may belong to another session.
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(seal_key_id=data_key.id, seal_public_key=public)
        .execution_options(synchronize_session=False)
    )
    campaign.seal_key_id, campaign.seal_public_key = data_key.id, public
    if first:
        await _seal_existing(session, campaign.id, data_key.id, public)
    changes.record(session, campaign.id)  # every process's snapshot takes the new key
    return True


async def _seal_existing(
    session: AsyncSession, campaign_id: int, key_id: int, public: bytes
) -> int:
    """A campaign sealed after it had signatures: each one's fields go in a box, and its clear
    columns keep only what it publishes. The caller scrubs the database files afterwards (the
    clear copies linger in free pages and the write-ahead log until then)."""
    result = await session.execute(
        select(
            Signature.id,
            Signature.publication,
            *(getattr(Signature, field) for field in sealing.FIELDS),
        ).where(
            Signature.campaign_id == campaign_id,
            Signature.sealed.is_(None),
            or_(*(getattr(Signature, field).is_not(None) for field in sealing.FIELDS)),
        )
    )
    sealed_rows = []
    for signature_id, publication, *values in result.all():
        typed = dict(zip(sealing.FIELDS, values, strict=True))
        sealed_rows.append(
            {
                "id": signature_id,
                "sealed": sealing.seal_fields(public, typed),
                "sealed_key_id": key_id,
                **Publication(publication).shown(typed),
            }
        )
    if sealed_rows:
        await session.execute(update(Signature), sealed_rows)
    return len(sealed_rows)


async def current_key(session: AsyncSession, organiser_id: int) -> bytes | None:
    """The organiser's current public key, if they gave one."""
    return await session.scalar(
        select(ReaderKey.public_key).where(
            ReaderKey.organiser_id == organiser_id, ReaderKey.retired_at.is_(None)
        )
    )


async def reader_keys(session: AsyncSession, campaign_id: int) -> list[ReaderKey]:
    organisers = select(CampaignOrganiser.organiser_id).where(
        CampaignOrganiser.campaign_id == campaign_id, CampaignOrganiser.role.in_(READING)
    )
    result = await session.execute(
        select(ReaderKey)
        .where(
            ReaderKey.retired_at.is_(None),
            or_(ReaderKey.campaign_id == campaign_id, ReaderKey.organiser_id.in_(organisers)),
        )
        .order_by(ReaderKey.id)
    )
    return list(result.scalars())


async def grants(session: AsyncSession, campaign_id: int) -> list[Grant]:
    """Every grant of every data key of the campaign: sealed, so safe to hand to any reader."""
    result = await session.execute(
        select(KeyGrant.campaign_key_id, CampaignKey.public_key, ReaderKey.public_key)
        .add_columns(KeyGrant.sealed_secret)
        .join(CampaignKey, CampaignKey.id == KeyGrant.campaign_key_id)
        .join(ReaderKey, ReaderKey.id == KeyGrant.reader_key_id)
        .where(CampaignKey.campaign_id == campaign_id)
        .order_by(KeyGrant.campaign_key_id, ReaderKey.id)
    )
    return [Grant(*row) for row in result.all()]


@dataclass(frozen=True, slots=True)
class Wanted:
    """A data key of the campaign that one of its current readers holds no grant for (they
    joined, or replaced their key, after it was made): only another reader can share it."""

    campaign_key_id: int
    reader_key_id: int
    reader_public_key: bytes


async def wanted(session: AsyncSession, campaign_id: int) -> list[Wanted]:
    """Every (data key, current reader) pair of the campaign without a grant."""
    current = await reader_keys(session, campaign_id)
    held = await session.execute(
        select(KeyGrant.campaign_key_id, KeyGrant.reader_key_id)
        .join(CampaignKey, CampaignKey.id == KeyGrant.campaign_key_id)
        .where(CampaignKey.campaign_id == campaign_id)
    )
    pairs = {(data_key, reader) for data_key, reader in held.all()}
    data_keys = await session.scalars(
        select(CampaignKey.id)
        .where(CampaignKey.campaign_id == campaign_id)
        .order_by(CampaignKey.id)
    )
    return [
        Wanted(data_key, reader.id, reader.public_key)
        for data_key in data_keys
        for reader in current
        if (data_key, reader.id) not in pairs
    ]


def sealed_for(
    held: list[Grant], lacking: list[Wanted], secret: bytes
) -> list[tuple[int, int, bytes]]:
    """On a reader's side: each data key this reader's secret opens (and which is the data
    key's own), sealed to each reader who lacks it. What /static/keys.js does in the browser."""
    public = sealing.public_of(secret)
    opened: dict[int, bytes] = {}
    for grant in held:
        if grant.reader_public_key != public:
            continue
        data_secret = sealing.open_grant(secret, grant.sealed_secret)
        if sealing.public_of(data_secret) == grant.data_public_key:
            opened[grant.campaign_key_id] = data_secret
    return [
        (item.campaign_key_id, item.reader_key_id, sealing.seal(item.reader_public_key, value))
        for item in lacking
        if (value := opened.get(item.campaign_key_id)) is not None
    ]


# A grant is a version byte and a sealed box of a 32-byte secret key.
GRANT_SIZE = len(sealing.VERSION) + 48 + 32


async def share(
    session: AsyncSession, campaign_id: int, given: list[tuple[int, int, bytes]]
) -> int:
    """Grants made on a reader's machine (the data key opened there, sealed to another reader's
    public key), for pairs the campaign lacks; all of them or, with BadGrant, none. The server
    cannot check that a grant holds the right secret — the reader it is for checks it when
    opening; a bad one harms only that reader's access, and its maker is in the audit log."""
    lacking = {
        (item.campaign_key_id, item.reader_key_id) for item in await wanted(session, campaign_id)
    }
    seen: set[tuple[int, int]] = set()
    for data_key, reader, box in given:
        pair = (data_key, reader)
        if pair not in lacking or pair in seen:
            raise BadGrant(f"data key {data_key} for reader key {reader} is not wanted")
        if len(box) != GRANT_SIZE or box[:1] != sealing.VERSION:
            raise BadGrant(f"the grant of data key {data_key} is not a sealed key")
        seen.add(pair)
    session.add_all(
        KeyGrant(campaign_key_id=data_key, reader_key_id=reader, sealed_secret=box)
        for data_key, reader, box in given
    )
    await session.flush()
    return len(given)


@dataclass(frozen=True, slots=True)
class Health:
    """What `petition keys check` says of one campaign."""

    slug: str
    sealed: bool
    readers: int  # current reader keys
    orphaned: tuple[int, ...]  # data keys granted to no current reader key

    @property
    def at_risk(self) -> bool:
        return self.sealed and (self.readers == 0 or bool(self.orphaned))


async def health(session: AsyncSession) -> list[Health]:
    """Each campaign: sealed or not, how many current readers, and which of its data keys only
    retired keys can open (lost with them, if nobody kept those)."""
    current = select(ReaderKey.id).where(ReaderKey.retired_at.is_(None))
    opened = (
        select(KeyGrant.campaign_key_id)
        .where(KeyGrant.reader_key_id.in_(current))
        .scalar_subquery()
    )
    orphans = await session.execute(
        select(CampaignKey.campaign_id, CampaignKey.id).where(CampaignKey.id.not_in(opened))
    )
    by_campaign: dict[int, list[int]] = {}
    for campaign_id, key_id in orphans.all():
        by_campaign.setdefault(campaign_id, []).append(key_id)
    found = []
    for campaign in (await session.scalars(select(Campaign).order_by(Campaign.slug))).all():
        count = len(await reader_keys(session, campaign.id))
        keys = tuple(by_campaign.get(campaign.id, ()))
        found.append(Health(campaign.slug, campaign.sealed, count, keys))
    return found


async def named(session: AsyncSession, campaign_id: int) -> list[tuple[str | None, bytes]]:
    """The campaign's current readers: the organiser's name (None for the campaign's own key)
    and the public key."""
    result = await session.execute(
        select(Organiser.name, ReaderKey.public_key)
        .select_from(ReaderKey)
        .outerjoin(Organiser, Organiser.id == ReaderKey.organiser_id)
        .where(ReaderKey.id.in_([key.id for key in await reader_keys(session, campaign_id)]))
        .order_by(ReaderKey.id)
    )
    return [(name, public) for name, public in result.all()]


async def readers_of(session: AsyncSession, key_ids: set[int]) -> dict[int, list[str]]:
    """Who can open what is sealed to each data key: organisers by name, other keys by their
    fingerprint (for a signer's copy of their data)."""
    if not key_ids:
        return {}
    result = await session.execute(
        select(KeyGrant.campaign_key_id, Organiser.name, ReaderKey.public_key)
        .join(ReaderKey, ReaderKey.id == KeyGrant.reader_key_id)
        .outerjoin(Organiser, Organiser.id == ReaderKey.organiser_id)
        .where(KeyGrant.campaign_key_id.in_(key_ids))
        .order_by(KeyGrant.campaign_key_id, ReaderKey.id)
    )
    found: dict[int, list[str]] = {}
    for key_id, name, public in result.all():
        found.setdefault(key_id, []).append(name or f"key {sealing.fingerprint(public)}")
    return found


async def _new_key(
    session: AsyncSession,
    public: bytes,
    now: datetime,
    *,
    organiser_id: int | None = None,
    campaign_id: int | None = None,
) -> ReaderKey:
    await _refuse_taken(session, public)
    key = ReaderKey(
        organiser_id=organiser_id, campaign_id=campaign_id, public_key=public, created_at=now
    )
    session.add(key)
    await session.flush()
    return key


async def _refuse_taken(session: AsyncSession, public: bytes) -> None:
    taken = await session.scalar(select(ReaderKey.id).where(ReaderKey.public_key == public))
    if taken is not None:
        raise KeyInUse(sealing.fingerprint(public))


async def _campaigns_read_by(session: AsyncSession, organiser_id: int) -> list[Campaign]:
    result = await session.execute(
        select(Campaign)
        .join(CampaignOrganiser, CampaignOrganiser.campaign_id == Campaign.id)
        .where(CampaignOrganiser.organiser_id == organiser_id, CampaignOrganiser.role.in_(READING))
        .order_by(Campaign.id)
    )
    return list(result.scalars())
