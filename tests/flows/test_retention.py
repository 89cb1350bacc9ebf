"""Retention, on a fake calendar: each period deletes what it must, on time, and only that.

Unconfirmed signatures go after `unconfirmed_days`; a closed campaign's signers become
anonymous `anonymise_after_days` after it closed (counts and published breakdowns stay);
anti-abuse signals and spent challenges go after `signals_days` or once expired. The purge
runs in the server on its own, and from the command line (`petition purge [--dry-run]`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from petition import counts, privacy, retention, tokens
from petition.cli import main
from petition.db import SessionFactory
from petition.models import (
    AbuseSignal,
    Base,
    Campaign,
    CampaignTally,
    ManageToken,
    OutboxMail,
    OutboxStatus,
    Publication,
    Signature,
    SignatureStatus,
    SignatureToken,
    SpentChallenge,
)
from petition.settings import Settings
from tests.support import factories
from tests.support.clock import FakeClock
from tests.support.journey import displayed_count, link, press, sign, signer
from tests.support.public import api, api_count, campaign_on, eventually
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
CLOSING = "lettre-close"
SECRET = b"retention-tests-have-no-secret-worth-it"
UNUSABLE = "Ce lien ne peut pas être utilisé"

# (first name, last name, role, organisation, what the signer chose to publish)
Row = tuple[str, str, str | None, str | None, Publication]


async def _purge(sessions: SessionFactory, now: datetime, settings: Settings) -> retention.Report:
    async with sessions() as session, session.begin():
        return await retention.purge(session, now, retention.Policy.from_settings(settings))


async def _dry_purge(
    sessions: SessionFactory, now: datetime, settings: Settings
) -> retention.Report:
    """What a purge would do, rolled back."""
    async with sessions() as session:
        transaction = await session.begin()
        report = await retention.purge(session, now, retention.Policy.from_settings(settings))
        await transaction.rollback()
        return report


async def _confirmed(
    sessions: SessionFactory, campaign: Campaign, rows: Sequence[Row], at: datetime
) -> None:
    """Confirmed signatures, each with its own role, organisation and publication choice,
    counted as the application counts them."""
    async with sessions() as session, session.begin():
        for first, last, role, organisation, publication in rows:
            address = f"{first}.{last}@example.org".lower()
            session.add(
                Signature(
                    campaign_id=campaign.id,
                    status=SignatureStatus.CONFIRMED,
                    email_hash=tokens.email_hash(SECRET, address),
                    first_name=first,
                    last_name=last,
                    role=role,
                    organisation=organisation,
                    email_domain="example.org",
                    publication=publication,
                    locale="fr",
                    consent_version="test",
                    consented_at=at,
                    created_at=at,
                    confirmed_at=at,
                )
            )
        await counts.add(session, campaign.id, len(rows))


async def _count(engine: AsyncEngine, model: type[Base], *where: Any) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(select(func.count()).select_from(model).where(*where))
    return int(found or 0)


async def _names(engine: AsyncEngine, campaign_id: int) -> list[tuple[Any, ...]]:
    """Every personal field of a campaign's signatures, with their status."""
    async with engine.connect() as connection:
        result = await connection.execute(
            select(
                Signature.status,
                Signature.first_name,
                Signature.last_name,
                Signature.role,
                Signature.organisation,
                Signature.email_hash,
                Signature.email_domain,
            )
            .where(Signature.campaign_id == campaign_id)
            .order_by(Signature.id)
        )
        return [tuple(row) for row in result.all()]


async def _anonymised_at(engine: AsyncEngine, campaign_id: int) -> datetime | None:
    async with engine.connect() as connection:
        value: datetime | None = await connection.scalar(
            select(Campaign.anonymised_at).where(Campaign.id == campaign_id)
        )
    return value


async def _closes_at(engine: AsyncEngine, campaign_id: int) -> datetime:
    async with engine.connect() as connection:
        value: datetime | None = await connection.scalar(
            select(Campaign.closes_at).where(Campaign.id == campaign_id)
        )
    assert value is not None
    return value


async def _signature_id(engine: AsyncEngine, last_name: str) -> int:
    async with engine.connect() as connection:
        found: int | None = await connection.scalar(
            select(Signature.id).where(Signature.last_name == last_name)
        )
    assert found is not None, last_name
    return found


# --- 1. Signatures never confirmed -------------------------------------------------------------


async def test_an_unconfirmed_signature_goes_after_seven_days_and_nothing_else_does(
    campaign: Campaign,
    server: LiveServer,
    smtp: SmtpSink,
    clock: FakeClock,
    sessions: SessionFactory,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    del campaign
    pasteur = signer("louis.pasteur@example.org", first_name="Louis", last_name="Pasteur")
    async with server.client() as browser:
        assert (await sign(browser, SLUG, signer())).status_code == 303
        assert (await sign(browser, SLUG, pasteur)).status_code == 303
        await smtp.wait_for(2)
        [kept] = smtp.to("marie.curie@example.org")
        [stale] = smtp.to("louis.pasteur@example.org")
        assert (await press(browser, link(kept, "confirm"))).status_code == 303
    stale_id = await _signature_id(engine, "Pasteur")
    kept_id = await _signature_id(engine, "Curie")
    assert await _count(engine, SignatureToken, SignatureToken.signature_id == stale_id) == 2

    clock.advance(days=6, hours=23)
    assert await _purge(sessions, clock(), settings) == retention.Report()
    assert await _count(engine, Signature) == 2
    assert await _count(engine, SignatureToken, SignatureToken.signature_id == stale_id) == 2

    clock.advance(hours=1, seconds=1)
    report = await _purge(sessions, clock(), settings)
    # The pending signature (its two links with it), and the confirmed signer's used and now
    # expired confirmation link; the withdrawal links, which never expire, stay.
    assert report == retention.Report(unconfirmed_deleted=1, links_deleted=1)
    assert await _count(engine, Signature, Signature.id == stale_id) == 0
    assert await _count(engine, SignatureToken, SignatureToken.signature_id == stale_id) == 0
    assert await _count(engine, Signature, Signature.id == kept_id) == 1
    assert await _count(engine, SignatureToken, SignatureToken.signature_id == kept_id) == 1
    # The mail sent about it forgets whom it was for.
    assert await _count(engine, OutboxMail, OutboxMail.signature_id == stale_id) == 0

    async with server.client() as browser:
        assert await displayed_count(browser, SLUG) == 1
        assert await eventually(lambda: api_count(browser, SLUG), lambda n: n == 1) == 1
        for path in (link(stale, "confirm"), link(stale, "withdraw")):
            gone = await browser.get(path)
            assert gone.status_code == 404, path
            assert UNUSABLE in gone.text
        assert (await browser.get(link(kept, "withdraw"))).status_code == 200
        # The address is free again: signing anew starts a new confirmation.
        assert (await sign(browser, SLUG, pasteur)).status_code == 303
        await smtp.wait_for(3)
        again = link(smtp.to("louis.pasteur@example.org")[-1], "confirm")
        assert (await press(browser, again)).status_code == 303
        assert await displayed_count(browser, SLUG) == 2

    # A second purge at the same moment finds nothing more.
    assert await _purge(sessions, clock(), settings) == retention.Report()


# --- 2. Anonymisation of closed campaigns ------------------------------------------------------


PEOPLE: list[Row] = [
    ("Louis", "Pasteur", "Infirmière", "CHU de Nantes", Publication.NAME_ROLE_ORG),
    # The same role and organisation typed otherwise: counted together, shown once.
    ("Ada", "Lovelace", "infirmière", "chu de  Nantes", Publication.NAME_ROLE_ORG),
    ("Alan", "Turing", "Ingénieur", "INRIA", Publication.NAME_ROLE),
    ("Grace", "Hopper", "Amirale", "US Navy", Publication.NAME),
    ("Rosalind", "Franklin", "Chimiste", "King's College", Publication.NONE),
    ("Emmy", "Noether", None, None, Publication.NAME_ROLE_ORG),
    # More organisations than a breakdown lists (50): the rest are summed as "others".
    *[
        (f"Prénom{i:02d}", f"Nom{i:02d}", "Médecin", f"Clinique {i:02d}", Publication.NAME_ROLE_ORG)
        for i in range(52)
    ],
]
NAMES = (
    "Curie",
    "Joliot",
    "Pasteur",
    "Lovelace",
    "Turing",
    "Hopper",
    "Franklin",
    "Noether",
    "Nom07",
)


async def test_a_closed_campaign_is_anonymised_183_days_after_it_closed_and_keeps_its_counts(
    campaign: Campaign,
    settings: Settings,
    smtp: SmtpSink,
    clock: FakeClock,
    sessions: SessionFactory,
    engine: AsyncEngine,
) -> None:
    start = clock()
    closing = await campaign_on(sessions, clock, CLOSING, closes=(start + timedelta(days=3)).date())
    await _confirmed(sessions, closing, PEOPLE, start)
    pending, confirmed = SignatureStatus.PENDING, SignatureStatus.CONFIRMED
    await factories.signature(sessions, closing, status=pending, at=start, last_name="Joliot")
    await factories.signature(sessions, campaign, status=confirmed, at=start, last_name="Langevin")
    closes_at = await _closes_at(engine, closing.id)
    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        async with server.client() as browser:
            fields = signer(publication="name_role_org")
            assert (await sign(browser, CLOSING, fields)).status_code == 303
            [mail] = await smtp.wait_for(1)
            assert (await press(browser, link(mail, "confirm"))).status_code == 303
            withdraw = link(mail, "withdraw")
            assert (await browser.get(withdraw)).status_code == 200
            before = await eventually(
                lambda: api(browser, f"/api/v1/campaigns/{CLOSING}"),
                lambda detail: detail["campaign"]["count"] == len(PEOPLE) + 1,
            )
            listed = (await browser.get(f"/c/{CLOSING}/signatories")).text
        signed = len(PEOPLE) + 1
        assert before["campaign"]["count"] == signed
        assert before["breakdown"]["other_organisations"] > 0
        assert {"organisation": "CHU de Nantes", "count": 2} in before["breakdown"][
            "by_organisation"
        ]
        assert "Curie" in listed and "Nom51" in listed
        stored = await _names(engine, closing.id)

        # Just before the period ends: the pending signature, the used confirmation link and the
        # mail that carried it go (their own periods), no signer's personal data.
        clock.now = closes_at + timedelta(days=183) - timedelta(minutes=1)
        report = await _purge(sessions, clock(), settings)
        assert report == retention.Report(unconfirmed_deleted=1, links_deleted=1, mails_deleted=1)
        assert await _anonymised_at(engine, closing.id) is None
        assert await _names(engine, closing.id) == [
            row for row in stored if row[0] is not SignatureStatus.PENDING
        ]
        async with server.client() as browser:
            assert (await browser.get(withdraw)).status_code == 200
            # Closed by now: the same document, but for its status.
            reference = await api(browser, f"/api/v1/campaigns/{CLOSING}")
        assert reference["campaign"]["status"] == "closed"
        assert reference["breakdown"] == before["breakdown"]
        assert reference["campaign"] == {**before["campaign"], "status": "closed"}

        clock.advance(minutes=2)
        report = await _purge(sessions, clock(), settings)
        assert report == retention.Report(campaigns_anonymised=1, signatures_anonymised=signed)
        assert await _anonymised_at(engine, closing.id) == clock()
        after = await _names(engine, closing.id)
        assert len(after) == signed
        assert all(row == (SignatureStatus.CONFIRMED, *[None] * 6) for row in after), after
        assert await _count(engine, CampaignTally, CampaignTally.campaign_id == closing.id) > 0

        async with server.client() as browser:
            assert await api(browser, f"/api/v1/campaigns/{CLOSING}") == reference
            page = await browser.get(f"/c/{CLOSING}/signatories")
            published = await api(browser, f"/api/v1/campaigns/{CLOSING}/signatories")
            letter = await browser.get(f"/c/{CLOSING}/letter")
            gone = await browser.get(withdraw)
            assert await displayed_count(browser, CLOSING) == signed
            # The open campaign (no closing date) is untouched.
            assert "Langevin" in (await browser.get(f"/c/{SLUG}/signatories")).text
        assert gone.status_code == 404 and UNUSABLE in gone.text
        for name in NAMES:
            assert name not in page.text and name not in letter.text, name

    assert await _anonymised_at(engine, campaign.id) is None
    assert await _count(engine, CampaignTally, CampaignTally.campaign_id == campaign.id) == 0
    [(status, first, last, *_rest)] = await _names(engine, campaign.id)
    assert (status, first, last) == (SignatureStatus.CONFIRMED, "Marie", "Langevin")

    # Once is enough: a later purge anonymises nothing more and keeps the tallies as they were.
    clock.advance(days=1)
    tallies = await _count(engine, CampaignTally)
    assert await _purge(sessions, clock(), settings) == retention.Report()
    assert await _count(engine, CampaignTally) == tallies
    fresh = dataclasses.replace(settings, breakdown_seconds=0)
    async with serve(fresh, clock) as server, server.client() as browser:
        later = await api(browser, f"/api/v1/campaigns/{CLOSING}")
    assert later["breakdown"] == before["breakdown"]

    # Nobody is listed any more, not even as a blank line with no name.
    assert published["signatories"] == [], published["signatories"][:2]
    assert '<span class="name">' not in page.text
    assert re.search(r"<li>\s*</li>", letter.text) is None


# --- 3. Anti-abuse signals and spent challenges ------------------------------------------------


async def test_abuse_signals_and_spent_challenges_go_after_their_period(
    campaign: Campaign,
    server: LiveServer,
    smtp: SmtpSink,
    clock: FakeClock,
    sessions: SessionFactory,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    del campaign
    start = clock()
    trap = {"website": "https://cheap-pills.example"}
    async with server.client() as robot:
        assert (
            await sign(robot, SLUG, {**signer("robot1@example.org"), **trap})
        ).status_code == 303
    clock.advance(days=20)
    async with server.client() as robot:
        assert (
            await sign(robot, SLUG, {**signer("robot2@example.org"), **trap})
        ).status_code == 303
    await smtp.wait_for(2)
    assert await _count(engine, AbuseSignal, AbuseSignal.rule == "honeypot") == 2
    async with sessions() as session, session.begin():
        session.add_all(
            [
                SpentChallenge(challenge_hash="a" * 64, expires_at=start + timedelta(days=30)),
                SpentChallenge(
                    challenge_hash="b" * 64, expires_at=start + timedelta(days=30, hours=1)
                ),
            ]
        )

    clock.now = start + timedelta(days=30) - timedelta(minutes=1)
    # The two robots' signatures were never confirmed: they went long ago (with their links).
    assert await _purge(sessions, clock(), settings) == retention.Report(unconfirmed_deleted=2)
    assert await _count(engine, AbuseSignal) == 2
    assert await _count(engine, SpentChallenge) == 2

    clock.advance(minutes=2)
    report = await _purge(sessions, clock(), settings)
    # The first signal, the first challenge, and the first robot's mail record.
    assert report == retention.Report(signals_deleted=1, challenges_deleted=1, mails_deleted=1)
    async with engine.connect() as connection:
        signals = list(await connection.scalars(select(AbuseSignal.created_at)))
        challenges = list(await connection.scalars(select(SpentChallenge.challenge_hash)))
    assert signals == [start + timedelta(days=20)]
    assert challenges == ["b" * 64]
    assert await _count(engine, OutboxMail) == 1

    clock.advance(hours=1)
    assert await _purge(sessions, clock(), settings) == retention.Report(challenges_deleted=1)
    assert await _count(engine, AbuseSignal) == 1


# --- 4. `petition purge` ---------------------------------------------------------------------


async def _snapshot(engine: AsyncEngine) -> dict[str, Any]:
    """Every table's row count, every signature's personal fields, every anonymisation date."""
    found: dict[str, Any] = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found[table.name] = await connection.scalar(select(func.count()).select_from(table))
        found["signatures"] = (
            await connection.execute(
                select(Signature.first_name, Signature.last_name, Signature.email_hash).order_by(
                    Signature.id
                )
            )
        ).all()
        found["anonymised"] = (
            await connection.execute(select(Campaign.slug, Campaign.anonymised_at))
        ).all()
    return found


async def test_petition_purge_says_what_is_due_and_a_dry_run_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    settings: Settings,
    sessions: SessionFactory,
    engine: AsyncEngine,
) -> None:
    # The command reads the real clock: rows are dated relative to it.
    now = datetime.now(UTC)
    long_ago = FakeClock(now - timedelta(days=400))
    old = await campaign_on(
        sessions, long_ago, "ancienne", closes=(now - timedelta(days=200)).date()
    )
    current = await campaign_on(sessions, FakeClock(now), "actuelle")
    for at, last in ((now - timedelta(days=300), "Pasteur"), (now - timedelta(days=299), "Curie")):
        await factories.signature(
            sessions, old, status=SignatureStatus.CONFIRMED, at=at, last_name=last
        )
    for at, last in ((now - timedelta(days=8), "Joliot"), (now - timedelta(days=1), "Langevin")):
        await factories.signature(
            sessions, current, status=SignatureStatus.PENDING, at=at, last_name=last
        )
    async with sessions() as session, session.begin():
        for days in (31, 1):
            at = now - timedelta(days=days)
            session.add(AbuseSignal(campaign_id=current.id, rule="honeypot", created_at=at))
            session.add(
                OutboxMail(
                    template="confirm",
                    status=OutboxStatus.SENT,
                    next_attempt_at=at,
                    created_at=at,
                    sent_at=at,
                )
            )
        for name, hours in (("old", -1), ("new", 1)):
            expires = now + timedelta(hours=hours)
            session.add(SpentChallenge(challenge_hash=name * 16, expires_at=expires))
            session.add(
                ManageToken(
                    email_hash=name * 16,
                    token_hash=name[::-1] * 16,
                    created_at=now - timedelta(days=1),
                    expires_at=expires,
                )
            )
    due = {
        "unconfirmed deleted": 1,
        "campaigns anonymised": 1,
        "signatures anonymised": 2,
        "signals deleted": 1,
        "challenges deleted": 1,
        "links deleted": 1,
        "mails deleted": 1,
    }

    monkeypatch.setenv("PETITION_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PETITION_VAR_DIR", str(tmp_path / "cli-var"))
    monkeypatch.setenv("PETITION_SECRET_KEY", settings.secret_key)
    before = await _snapshot(engine)
    capsys.readouterr()
    assert await asyncio.wait_for(asyncio.to_thread(main, ["purge", "--dry-run"]), 60) == 0
    out = capsys.readouterr().out
    assert _printed(out) == due, out
    assert "would delete or erased 8 rows in all" in out
    assert await _snapshot(engine) == before

    assert await asyncio.wait_for(asyncio.to_thread(main, ["purge"]), 60) == 0
    out = capsys.readouterr().out
    assert _printed(out) == due, out
    assert "deleted or erased 8 rows in all" in out
    after = await _snapshot(engine)
    assert after != before
    for model, left in (
        (AbuseSignal, 1),
        (SpentChallenge, 1),
        (ManageToken, 1),
        (OutboxMail, 1),
        (Signature, 3),
    ):
        assert await _count(engine, model) == left, model
    assert await _count(engine, Signature, Signature.last_name == "Joliot") == 0
    assert await _count(engine, Signature, Signature.last_name == "Langevin") == 1
    assert await _count(engine, Signature, Signature.campaign_id == old.id) == 2
    assert await _count(engine, Signature, Signature.last_name.is_not(None)) == 1
    assert await _anonymised_at(engine, old.id) is not None
    assert await _anonymised_at(engine, current.id) is None

    # Nothing is left to do.
    assert await asyncio.wait_for(asyncio.to_thread(main, ["purge"]), 60) == 0
    out = capsys.readouterr().out
    assert set(_printed(out).values()) == {0}, out
    assert await _snapshot(engine) == after


def _printed(out: str) -> dict[str, int]:
    """The per-item counts `petition purge` prints ("links deleted: 2")."""
    found: dict[str, int] = {}
    for line in out.splitlines():
        name, colon, number = line.partition(": ")
        if colon and number.isdigit():
            found[name] = int(number)
    return found


# --- 5. The periods are settings -----------------------------------------------------------------


async def test_shorter_periods_in_the_settings_delete_sooner(
    campaign: Campaign,
    clock: FakeClock,
    sessions: SessionFactory,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    now = clock()
    for days, last in ((3, "Joliot"), (1, "Langevin")):
        await factories.signature(
            sessions,
            campaign,
            status=SignatureStatus.PENDING,
            at=now - timedelta(days=days),
            last_name=last,
        )
    closed: dict[int, Campaign] = {}
    for days in (11, 9):
        closed[days] = await campaign_on(sessions, clock, f"fermee-il-y-a-{days}-jours")
        await factories.signature(
            sessions,
            closed[days],
            status=SignatureStatus.CONFIRMED,
            at=now - timedelta(days=40),
            last_name=f"Signataire{days}",
        )
    async with sessions() as session, session.begin():
        for days, shown in closed.items():
            await session.execute(
                update(Campaign)
                .where(Campaign.id == shown.id)
                .values(closes_at=now - timedelta(days=days))
            )
        for days in (6, 4):
            session.add(
                AbuseSignal(
                    campaign_id=campaign.id, rule="too_fast", created_at=now - timedelta(days=days)
                )
            )

    # With the usual periods, none of it is due yet.
    assert await _dry_purge(sessions, now, settings) == retention.Report()

    shorter = dataclasses.replace(
        settings, unconfirmed_days=2, anonymise_after_days=10, signals_days=5
    )
    report = await _purge(sessions, now, shorter)
    assert report == retention.Report(
        unconfirmed_deleted=1, campaigns_anonymised=1, signatures_anonymised=1, signals_deleted=1
    )
    assert await _count(engine, Signature, Signature.last_name == "Joliot") == 0
    assert await _count(engine, Signature, Signature.last_name == "Langevin") == 1
    assert await _count(engine, Signature, Signature.last_name == "Signataire11") == 0
    assert await _count(engine, Signature, Signature.last_name == "Signataire9") == 1
    assert await _anonymised_at(engine, closed[11].id) == now
    assert await _anonymised_at(engine, closed[9].id) is None
    assert await _count(engine, AbuseSignal) == 1
    assert await _purge(sessions, now, shorter) == retention.Report()


async def test_lengthening_a_period_keeps_nobody_longer_than_their_notice_said(
    campaign: Campaign,
    clock: FakeClock,
    sessions: SessionFactory,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    """Signers told "7 days" under notice 1 go after 7 days, though the operator has since
    set 14 (notice 2, for those who sign from now on)."""
    now = clock()
    async with sessions() as session, session.begin():
        await privacy.current(session, campaign, settings, now)
        await privacy.current(
            session, campaign, dataclasses.replace(settings, unconfirmed_days=14), now
        )
    await factories.signature(
        sessions,
        campaign,
        status=SignatureStatus.PENDING,
        at=now - timedelta(days=8),
        last_name="Sous-Ancien-Avis",
    )
    longer = dataclasses.replace(settings, unconfirmed_days=14)
    assert await _purge(sessions, now, longer) == retention.Report(unconfirmed_deleted=1)
    assert await _count(engine, Signature, Signature.last_name == "Sous-Ancien-Avis") == 0


# --- The server purges on its own --------------------------------------------------------------


async def test_the_server_runs_the_purge_on_its_own(
    campaign: Campaign,
    settings: Settings,
    smtp: SmtpSink,
    clock: FakeClock,
    engine: AsyncEngine,
) -> None:
    del campaign
    # A fraction of a minute, so that the test need not wait an hour.
    often = dataclasses.replace(settings, purge_minutes=0.01)
    async with serve(often, clock) as server:
        async with server.client() as browser:
            assert (await sign(browser, SLUG, signer())).status_code == 303
        await smtp.wait_for(1)
        await asyncio.sleep(1)  # a purge or two run: the signature is too young to go
        assert await _count(engine, Signature) == 1
        clock.advance(days=7, minutes=1)

        async def left() -> int:
            return await _count(engine, Signature)

        await eventually(left, lambda n: n == 0, within=5)
