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
    """An organiser's key, replacing their former one; every campaign they read rotates."""
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
    taken = await session.scalar(select(ReaderKey.id).where(ReaderKey.public_key == public))
    if taken is not None:
        raise KeyInUse(sealing.fingerprint(public))
    key = ReaderKey(
        organiser_id=organiser_id, campaign_id=campaign_id, public_key=public, created_at=now
    )
    session.add(key)
    await session.flush()
    return key


async def _campaigns_read_by(session: AsyncSession, organiser_id: int) -> list[Campaign]:
    result = await session.execute(
        select(Campaign)
        .join(CampaignOrganiser, CampaignOrganiser.campaign_id == Campaign.id)
        .where(CampaignOrganiser.organiser_id == organiser_id, CampaignOrganiser.role.in_(READING))
        .order_by(Campaign.id)
    )
    return list(result.scalars())
