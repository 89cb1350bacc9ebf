"""The privacy notice of a campaign: its facts, and the versions signers consented to.

The wording lives in the template (translated); what varies — controller, contact, retention
periods actually configured, whether a file of sealed names needs a second owner's approval —
is stored as a version. A new version is written the first time a page is shown after any of
them changed, and every signature records the version it was signed under, so one can always
show what a signer was told.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from petition.models import Campaign, PrivacyNotice
from petition.settings import Settings

TEXT_REVISION = "2026-12b"  # b: the address kept for news, for those who ask
"""The wording's revision: change it when templates/privacy.html changes in substance."""


@dataclass(frozen=True, slots=True)
class Facts:
    controller: str
    contact: str
    unconfirmed_days: int
    anonymise_after_days: int
    signals_days: int
    # A second owner approves each file of sealed names (petition.four_eyes); None when the
    # campaign is not sealed: it makes no such file, and no approval applies to its exports.
    four_eyes: bool | None = None
    text_revision: str = TEXT_REVISION


def facts(campaign: Campaign, settings: Settings) -> Facts:
    """What the notice states today. Without a named controller, the site's operator is it."""
    return Facts(
        controller=(campaign.controller or "").strip(),
        contact=(campaign.privacy_contact or "").strip() or settings.mail_from,
        unconfirmed_days=settings.unconfirmed_days,
        anonymise_after_days=settings.anonymise_after_days,
        signals_days=settings.signals_days,
        # The campaign's setting is what applies: it is off only with a single organiser, and
        # adding a second turns it back on (petition.four_eyes).
        four_eyes=campaign.four_eyes if campaign.sealed else None,
    )


def _facts_of(notice: PrivacyNotice) -> Facts:
    return Facts(**{f.name: getattr(notice, f.name) for f in dataclasses.fields(Facts)})


async def current(
    session: AsyncSession, campaign: Campaign, settings: Settings, now: datetime
) -> PrivacyNotice:
    """The notice in force, written as a new version if its facts changed since the last one."""
    latest = await _latest(session, campaign.id)
    wanted = facts(campaign, settings)
    if latest is not None and _facts_of(latest) == wanted:
        return latest
    notice = _notice(campaign.id, (latest.version + 1) if latest else 1, wanted, now)
    try:
        async with session.begin_nested():
            session.add(notice)
            await session.flush()
    except IntegrityError:  # another request wrote the same version at the same moment
        found = await _latest(session, campaign.id)
        assert found is not None  # noqa: S101  # the conflicting row exists
        return found
    return notice


async def refresh_all(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """At start-up: a new version for every campaign whose notice the settings changed."""
    for campaign in (await session.execute(select(Campaign))).scalars():
        await current(session, campaign, settings, now)


async def shown(session: AsyncSession, campaign: Campaign, settings: Settings) -> PrivacyNotice:
    """The notice to show on a page, without writing: the latest version, or (before any was
    written) the facts of today as version 1."""
    latest = await _latest(session, campaign.id)
    if latest is not None:
        return latest
    return _notice(campaign.id, 1, facts(campaign, settings), campaign.created_at)


def _notice(campaign_id: int, number: int, stated: Facts, now: datetime) -> PrivacyNotice:
    return PrivacyNotice(
        campaign_id=campaign_id,
        version=number,
        created_at=now,
        **dataclasses.asdict(stated),
    )


async def version(session: AsyncSession, campaign_id: int, number: int) -> PrivacyNotice | None:
    result = await session.execute(
        select(PrivacyNotice).where(
            PrivacyNotice.campaign_id == campaign_id, PrivacyNotice.version == number
        )
    )
    return result.scalar_one_or_none()


async def _latest(session: AsyncSession, campaign_id: int) -> PrivacyNotice | None:
    result = await session.execute(
        select(PrivacyNotice)
        .where(PrivacyNotice.campaign_id == campaign_id)
        .order_by(PrivacyNotice.version.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


LABEL = "notice-"


def label(notice: PrivacyNotice) -> str:
    """How a consent record names its notice."""
    return label_of(notice.version)


def label_of(version: int) -> str:
    return f"{LABEL}{version}"


def number(consent_version: str) -> int | None:
    """The notice version a consent record names, if it names one."""
    digits = consent_version.removeprefix(LABEL)
    return int(digits) if consent_version.startswith(LABEL) and digits.isdigit() else None
