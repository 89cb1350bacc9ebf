"""Jeanne signs with a Gmail alias, then with her plain address: one signer, two mails to
the addresses she typed; at providers that keep such addresses apart, they stay two people."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from petition import organisers, tokens
from petition.db import SessionFactory
from petition.models import Campaign, Organiser, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import (
    csrf_of,
    displayed_count,
    hidden_fields,
    link,
    press,
    sign,
    signer,
)
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
pytestmark = pytest.mark.usefixtures("campaign")


async def test_a_gmail_alias_and_the_plain_address_are_one_signer(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer("jeanne.dupont+hdh@gmail.com", first_name="Jeanne"))
        [confirm] = await smtp.wait_for(1)
        await press(browser, link(confirm, "confirm"))
        again = await sign(browser, SLUG, signer("JeanneDupont@gmail.com", first_name="Jeanne"))
        assert again.status_code == 303
        assert await displayed_count(browser, SLUG) == 1

    mails = await smtp.wait_for(2)
    # Each mail goes to the address typed (lower-cased, as it always was), tag and dots kept.
    assert [m["To"] for m in mails] == ["jeanne.dupont+hdh@gmail.com", "jeannedupont@gmail.com"]
    assert mails[0]["Subject"].startswith("Confirmez votre signature")
    assert mails[1]["Subject"].startswith("Vous avez déjà signé")
    async with sessions() as session:
        rows = (await session.execute(select(Signature.status))).scalars().all()
    assert rows == [SignatureStatus.CONFIRMED]


async def test_googlemail_is_the_same_mailbox_as_gmail(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer("jeannedupont@gmail.com"))
        await smtp.wait_for(1)
        await sign(browser, SLUG, signer("Jeanne.Dupont@googlemail.com"))
    mails = await smtp.wait_for(2)
    # Still pending: the second mail brings the confirmation link again, to the typed address.
    assert mails[1]["To"] == "jeanne.dupont@googlemail.com"
    assert mails[1]["Subject"].startswith("Confirmez votre signature")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 1


async def test_manage_my_signature_answers_any_alias_of_the_mailbox_at_the_address_typed(
    server: LiveServer, smtp: SmtpSink
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer("jeanne.dupont+hdh@gmail.com", first_name="Jeanne"))
        await smtp.wait_for(1)
        page = await browser.get("/manage")
        form = {**hidden_fields(page), "email": "JeanneDupont@gmail.com"}
        assert (await browser.post("/manage", data=form)).status_code == 303
        [_, manage] = await smtp.wait_for(2)
        assert manage["To"] == "jeannedupont@gmail.com"
        own = await browser.get(link(manage, "manage"))
    assert own.status_code == 200
    assert "Jeanne" in own.text and SLUG in own.text


async def test_a_signature_made_before_the_mailbox_rules_is_still_managed_by_its_address(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
    settings: Settings,
) -> None:
    """Its row holds the earlier hash of a dotted Gmail address: the manage link finds it,
    lists it and withdraws it; a copy of the data is mailed to that address."""
    dotted = "jeanne.dupont@gmail.com"
    old = await factories.signature(
        sessions, campaign, status=SignatureStatus.CONFIRMED, at=campaign.created_at,
        first_name="Jeanne", email=dotted,
    )  # fmt: skip
    async with sessions() as session, session.begin():
        row = await session.get(Signature, old.id)
        assert row is not None
        row.email_hash = tokens.legacy_email_hash(settings.load_secret_key(), dotted)
    async with server.client() as browser:
        page = await browser.get("/manage")
        form = {**hidden_fields(page), "email": dotted}
        assert (await browser.post("/manage", data=form)).status_code == 303
        [manage] = await smtp.wait_for(1)
        assert manage["To"] == dotted
        path = link(manage, "manage")
        own = await browser.get(path)
        assert own.status_code == 200 and "Jeanne" in own.text
        token = csrf_of(own)
        asked = await browser.post(f"{path}/data", data={"_csrf_token": token, "email": dotted})
        assert asked.status_code == 303
        [_, data] = await smtp.wait_for(2)
        assert data["To"] == dotted and list(data.iter_attachments())
        gone = await browser.post(f"{path}/{old.id}/withdraw", data={"_csrf_token": token})
        assert gone.status_code == 303
    async with sessions() as session:
        row = await session.get(Signature, old.id)
        assert row is not None and row.status is SignatureStatus.WITHDRAWN


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("jeanne.dupont@laposte.net", "jeannedupont@laposte.net"),
        ("jeanne+x@orange.fr", "jeanne@orange.fr"),
    ],
)
async def test_addresses_a_provider_keeps_apart_are_two_signers(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, first: str, second: str
) -> None:
    async with server.client() as browser:
        await sign(browser, SLUG, signer(first))
        await sign(browser, SLUG, signer(second))
        mails = await smtp.wait_for(2)
        assert sorted(m["To"] for m in mails) == sorted([first, second])
        assert all(m["Subject"].startswith("Confirmez votre signature") for m in mails)
        for mail in mails:
            await press(browser, link(mail, "confirm"))
        assert await displayed_count(browser, SLUG) == 2
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 2


async def test_an_organiser_made_before_with_a_dotted_gmail_address_still_signs_in(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
) -> None:
    secret = settings.load_secret_key()
    # The row as the earlier release wrote it: the hash of the address with its dots.
    async with sessions() as session, session.begin():
        session.add(
            Organiser(
                email_hash=tokens.legacy_email_hash(secret, "jeanne.dupont@gmail.com"),
                name="Jeanne",
                password_hash=password_hash,
                created_at=clock(),
            )
        )
    async with server.client() as browser:
        signed_in = await login(browser, "Jeanne.Dupont@gmail.com", PASSWORD)
        assert signed_in.status_code == 303
        board = await browser.get("/dashboard")
        assert board.status_code == 200
    async with sessions() as session, session.begin():
        with pytest.raises(organisers.OrganiserExists):
            await organisers.add(
                session, secret=secret, email="jeanne.dupont@gmail.com", name="J", now=clock()
            )


async def test_an_organiser_made_now_signs_in_with_any_alias_of_her_mailbox(
    server: LiveServer,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions,
        settings.load_secret_key(),
        campaign,
        Role.EDITOR,
        email="jeanne.dupont@gmail.com",
        name="Jeanne",
        password_hash=password_hash,
        now=clock(),
    )
    async with server.client() as browser:
        assert (await login(browser, "jeannedupont+asso@gmail.com", PASSWORD)).status_code == 303
