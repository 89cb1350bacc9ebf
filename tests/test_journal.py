"""The erasure journal: what is written when, what it holds, and applying it again.

A restore applies the journal to a database older than it: here the "older database" is the
same rows written back as they were before the journal's changes, as a restore would bring
them back.
"""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from petition import (
    journal,
    moderation,
    quarantine,
    reconcile,
    replay,
    retention,
    signing,
    subscriptions,
)
from petition.db import SessionFactory, create_session_factory
from petition.journal import Entry, Journal
from petition.models import Campaign, Organiser, Role, Signature, SignatureStatus, Subscription
from petition.settings import Settings
from tests.support import factories, public
from tests.support.clock import FakeClock

NAMES = ("Anouk", "Berthe", "Capucine", "Delphine")


@pytest.fixture
async def organiser(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, clock: FakeClock
) -> Organiser:
    return await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email="moderatrice@collectif.example", name="moderatrice", password_hash="x",
        now=clock(),
    )  # fmt: skip


@pytest.fixture
async def signed(sessions: SessionFactory, campaign: Campaign, clock: FakeClock) -> list[int]:
    ids = []
    for n, name in enumerate(NAMES):
        row = await factories.signature(
            sessions, campaign, status=SignatureStatus.CONFIRMED,
            at=clock() - timedelta(minutes=n), first_name=name, last_name="Journal",
            email=f"{name.lower()}@signataires.example",
        )  # fmt: skip
        ids.append(row.id)
    return ids


def lines(settings: Settings) -> list[dict[str, Any]]:
    path = settings.resolved_journal_file
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_committed_withdrawal_is_journalled_with_ids_and_hashes_only(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, signed: list[int],
    clock: FakeClock,
) -> None:  # fmt: skip
    async with sessions() as session, session.begin():
        email_hash = await session.scalar(
            select(Signature.email_hash).where(Signature.id == signed[0])
        )
        await signing.erase(session, signed[0], campaign.id, clock())
        assert lines(settings) == []  # noted, not written, before the commit
    [entry] = lines(settings)
    assert entry["v"] == 1 and entry["kind"] == "withdrawal" and entry["campaign"] == campaign.id
    assert entry["signatures"] == [[signed[0], email_hash]]
    assert entry["at"].endswith("Z")
    text = settings.resolved_journal_file.read_text()
    assert "Anouk" not in text and "signataires.example" not in text
    assert stat.S_IMODE(settings.resolved_journal_file.stat().st_mode) == 0o600


async def test_a_rolled_back_change_or_savepoint_journals_nothing(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, signed: list[int],
    clock: FakeClock,
) -> None:  # fmt: skip
    async with sessions() as session:
        await session.begin()
        await signing.erase(session, signed[0], campaign.id, clock())
        await session.rollback()
    async with sessions() as session, session.begin():
        with pytest.raises(ZeroDivisionError):
            async with session.begin_nested():
                await signing.erase(session, signed[1], campaign.id, clock())
                raise ZeroDivisionError
        await signing.erase(session, signed[2], campaign.id, clock())
    assert [e["signatures"][0][0] for e in lines(settings)] == [signed[2]]


async def test_a_session_without_a_journal_refuses_to_erase(
    engine: AsyncEngine, sessions: SessionFactory, campaign: Campaign, signed: list[int],
    clock: FakeClock,
) -> None:  # fmt: skip
    unjournalled = create_session_factory(engine)
    with pytest.raises(journal.NoJournal):
        async with unjournalled() as session, session.begin():
            await signing.erase(session, signed[0], campaign.id, clock())
    async with sessions() as session:
        status = await session.scalar(select(Signature.status).where(Signature.id == signed[0]))
    assert status is SignatureStatus.CONFIRMED


async def test_replaying_the_journal_twice_ends_where_replaying_it_once_does(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, signed: list[int],
    organiser: Organiser, clock: FakeClock,
) -> None:  # fmt: skip
    anouk, berthe, capucine, delphine = signed
    before = await rows(sessions)
    async with sessions() as session, session.begin():
        await signing.erase(session, anouk, campaign.id, clock())
        await moderation.invalidate(
            session, campaign, moderation.Rule(ids=(berthe, capucine)), "doublon", organiser,
            clock(),
        )  # fmt: skip
    clock.advance(seconds=1)
    async with sessions() as session, session.begin():
        await moderation.restore(
            session, campaign, moderation.Rule(ids=(capucine,)), organiser, clock()
        )
    # A signature made after a restore may get an id the journal names: its hash tells them apart.
    Journal(settings.resolved_journal_file).append(
        [Entry(clock(), journal.WITHDRAWAL, campaign.id, ((delphine, "0" * 64),))]
    )
    await put_back(sessions, before)  # the older backup, restored

    read = journal.read([settings.resolved_journal_file])
    first = await replayed(sessions, read.entries)
    after_once = await rows(sessions)
    second = await replayed(sessions, read.entries)

    assert await rows(sessions) == after_once
    assert (first.withdrawn, first.invalidated, first.restored) == (1, 2, 1)
    assert (second.withdrawn, second.invalidated, second.restored) == (0, 1, 1)
    states = {
        row["id"]: (row["status"], row["first_name"], row["email_hash"]) for row in after_once
    }
    assert states[anouk] == (SignatureStatus.WITHDRAWN, None, None)
    assert states[berthe][0] is SignatureStatus.INVALIDATED
    assert states[capucine][:2] == (SignatureStatus.CONFIRMED, "Capucine")
    assert states[delphine][:2] == (SignatureStatus.CONFIRMED, "Delphine")
    async with sessions() as session:
        assert await reconcile.check(session, fix=False) == []


async def test_a_campaign_anonymisation_is_replayed_once_and_never_onto_a_later_campaign(
    sessions: SessionFactory, campaign: Campaign, signed: list[int], clock: FakeClock
) -> None:
    too_early = Entry(campaign.created_at - timedelta(days=1), journal.ANONYMISATION, campaign.id)
    anonymised = Entry(clock(), journal.ANONYMISATION, campaign.id)
    assert (await replayed(sessions, [too_early])).anonymised == 0
    done = await replayed(sessions, [anonymised, anonymised])
    assert (done.anonymised, done.anonymised_signatures, done.applied) == (1, len(NAMES), 1)
    assert {row["first_name"] for row in await rows(sessions)} == {None}


async def test_an_unsubscription_is_journalled_and_replayed_onto_an_older_copy(
    sessions: SessionFactory, settings: Settings, signed: list[int], clock: FakeClock
) -> None:
    secret = settings.load_secret_key()
    async with sessions() as session, session.begin():
        signature = await session.get(Signature, signed[0])
        assert signature is not None
        await session.run_sync(
            lambda sync: subscriptions.add_in(
                sync, secret=secret, campaign_id=signature.campaign_id,
                signature_id=signature.id, address="anouk@signataires.example",
                locale="fr", consent_version="notice-1", now=clock(),
            )
        )  # fmt: skip
    async with sessions() as session:
        kept_row = (await session.execute(select(Subscription))).scalar_one()
        link = subscriptions.token(secret, kept_row)
        before = {c.key: getattr(kept_row, c.key) for c in Subscription.__table__.columns}
    async with sessions() as session, session.begin():
        assert await subscriptions.unsubscribe(session, secret, link, clock()) is not None
    async with sessions() as session, session.begin():  # a link used twice stops nothing more
        assert await subscriptions.unsubscribe(session, secret, link, clock()) is None
    [entry] = [e for e in lines(settings) if e["kind"] == journal.UNSUBSCRIPTION]
    assert entry["signatures"] == [[signed[0], signature.email_hash]]
    assert "anouk" not in json.dumps(entry)
    # An older copy still holds the address kept for news: the journal erases it again.
    async with sessions() as session, session.begin():
        session.add(Subscription(**before))
    read = journal.read([settings.resolved_journal_file])
    done = await replayed(sessions, read.entries)
    assert done.unsubscribed == 1
    async with sessions() as session:
        assert (await session.execute(select(Subscription))).first() is None


async def test_releases_and_retention_purges_are_journalled_too(
    sessions: SessionFactory, settings: Settings, campaign: Campaign, organiser: Organiser,
    clock: FakeClock,
) -> None:  # fmt: skip
    held = await factories.signature(
        sessions, campaign, status=SignatureStatus.QUARANTINED, at=clock(), first_name="Retenue"
    )
    pending = await factories.signature(
        sessions, campaign, status=SignatureStatus.PENDING, at=clock(), first_name="Oubliée"
    )
    closing = await public.campaign_on(
        sessions, clock, "close-bientot", closes=clock().date() + timedelta(days=1)
    )
    await factories.signature(sessions, closing, status=SignatureStatus.CONFIRMED, at=clock())
    async with sessions() as session, session.begin():
        await quarantine.release(session, campaign, organiser, clock(), ids=(held.id,))
    async with sessions() as session, session.begin():
        later = clock() + timedelta(days=400)
        await retention.purge(session, later, retention.Policy.from_settings(settings))

    found = {(e["kind"], e["campaign"]): e["signatures"] for e in lines(settings)}
    assert found[("release", campaign.id)] == [[held.id, held.email_hash]]
    assert found[("deletion", campaign.id)] == [[pending.id, pending.email_hash]]
    assert found[("anonymisation", closing.id)] == []
    assert len(found) == 3


def test_journals_merge_by_date_and_a_line_cut_by_a_crash_is_skipped(
    tmp_path: Path, clock: FakeClock
) -> None:
    one, two = Journal(tmp_path / "one.journal"), Journal(tmp_path / "two.journal")
    one.append([Entry(clock(), journal.WITHDRAWAL, 1, ((1, "a"),))])
    two.append([Entry(clock() - timedelta(seconds=1), journal.INVALIDATION, 1, ((2, "b"),))])
    with one.path.open("ab") as cut:  # a crash in the middle of a write
        cut.write(b'{"v":1,"at":"2026-')
    one.append([Entry(clock() + timedelta(seconds=1), journal.RESTORATION, 1, ((2, "b"),))])

    read = journal.read([one.path, two.path])
    assert [e.kind for e in read.entries] == ["invalidation", "withdrawal", "restoration"]
    assert read.unreadable == 1


async def rows(sessions: SessionFactory) -> list[dict[str, Any]]:
    async with sessions() as session:
        found = await session.execute(select(Signature).order_by(Signature.id))
        columns = [column.key for column in Signature.__table__.columns]
        return [{key: getattr(row, key) for key in columns} for row in found.scalars()]


async def put_back(sessions: SessionFactory, before: list[dict[str, Any]]) -> None:
    async with sessions() as session, session.begin():
        for row in before:
            await session.execute(update(Signature).where(Signature.id == row["id"]).values(row))
        await reconcile.check(session, fix=True)


async def replayed(sessions: SessionFactory, entries: list[Entry]) -> replay.Replayed:
    async with sessions() as session, session.begin():
        done = await replay.replay(session, entries)
        await reconcile.check(session, fix=True)
    return done
