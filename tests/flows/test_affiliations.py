"""Organisers map email domains to organisations; a signer from such a domain naming that
organisation is shown, once confirmed, as a verified affiliation — and only that mark is kept.
The mark is decided at signing, from the form as typed: on a sealed campaign too, where the
organisation a signer does not publish is gone from the clear columns by confirmation."""

from __future__ import annotations

import dataclasses
import html
import re
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import select

from petition import readers
from petition.cli_keys import read_public, write_key_pair
from petition.db import SessionFactory
from petition.models import Campaign, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.privacy import until_no_row_mentions
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
EDITOR = "editrice@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
SIGNERS = {
    # address: (organisation named, verified?)
    "claire@chu-lyon.fr": ("CHU de Lyon", True),
    "bruno@med.chu-lyon.fr": ("chu de  lyon", True),  # a subdomain, another spelling
    "eve@gmail.com": ("CHU de Lyon", False),  # the right name from another domain
    "dan@chu-lyon.fr": ("Clinique du Parc", False),  # the domain, naming another place
}


async def _map(browser: httpx.AsyncClient, domain: str, organisation: str) -> httpx.Response:
    page = await browser.get("/organiser/login")  # any page of ours carries the token
    form = {
        "_csrf_token": csrf_of(page),
        "action": "add",
        "domain": domain,
        "organisation": organisation,
    }
    return await browser.post(f"/dashboard/c/{SLUG}/affiliations", data=form)


async def _editor(
    sessions: SessionFactory, settings: Settings, clock: FakeClock, campaign: Campaign, hashed: str
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=hashed, now=clock(),
    )  # fmt: skip


def _letter_text(page: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


async def test_a_confirmation_from_a_mapped_domain_is_verified_and_the_address_is_not_kept(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    for email, role in ((EDITOR, Role.EDITOR), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip
    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            assert (await _map(editor, "@CHU-Lyon.fr", "CHU de Lyon")).status_code == 303
            page = await editor.get(f"/dashboard/c/{SLUG}/affiliations")
            assert "chu-lyon.fr" in page.text and "CHU de Lyon" in page.text
            bad = await _map(editor, "pas un domaine", "CHU de Lyon")
            assert bad.status_code == 422 and "chu-lyon.fr" in bad.text
            again = await _map(editor, "chu-lyon.fr", "Autre")
            assert again.status_code == 422
        async with server.client() as viewer:
            await login(viewer, VIEWER, PASSWORD)
            assert (await viewer.get(f"/dashboard/c/{SLUG}/affiliations")).status_code == 403
            assert (await _map(viewer, "pirate.example", "Pirates")).status_code == 403

        async with server.client() as browser:
            for n, (email, (organisation, _verified)) in enumerate(SIGNERS.items()):
                fields = signer(
                    email, first_name=f"Signataire{n}", organisation=organisation,
                    publication="name_role_org",
                )  # fmt: skip
                assert (await sign(browser, SLUG, fields)).status_code == 303
            for mail in await smtp.wait_for(len(SIGNERS)):
                assert (await press(browser, link(mail, "confirm"))).status_code == 303

            async with sessions() as session:
                flags = dict(
                    (
                        await session.execute(
                            select(Signature.first_name, Signature.affiliation_verified)
                        )
                    ).all()
                )
            assert flags == {
                f"Signataire{n}": verified for n, (_org, verified) in enumerate(SIGNERS.values())
            }
            for email in SIGNERS:
                await until_no_row_mentions(sessions, email)

            letter = await browser.get(f"/c/{SLUG}/letter")
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", letter.text)).split())
            assert "CHU de Lyon (3, 2 affiliations vérifiées)" in text
            assert text.count("✓ affiliation vérifiée") == 2


# A sealed campaign, where chu-lyon.fr is the CHU de Lyon's: (fields typed, confirms?).
SEALED_SIGNERS = {
    # Publishes nothing: her organisation is only in the sealed box by confirmation.
    "claire@chu-lyon.fr": (
        signer("claire@chu-lyon.fr", first_name="Claire", last_name="Zylberstein",
               organisation="CHU DE LYON", publication="none"),
        True,
    ),
    # Publishes their name only, from a subdomain.
    "bruno@med.chu-lyon.fr": (
        signer("bruno@med.chu-lyon.fr", first_name="Bruno", last_name="Quenneville",
               organisation="Chu De Lyon", publication="name"),
        True,
    ),
    # Publishes everything, from another domain: not verified.
    "eve@gmail.com": (
        signer("eve@gmail.com", first_name="Eve", last_name="Ormesson",
               organisation="CHU de Lyon", publication="name_role_org"),
        True,
    ),
    # From the domain, naming it, but never confirms: flagged, and counted nowhere.
    "paul@chu-lyon.fr": (
        signer("paul@chu-lyon.fr", first_name="Paul", last_name="Attendu",
               organisation="CHU de Lyon", publication="name_role_org"),
        False,
    ),
}  # fmt: skip


# Signs before hcl.fr is mapped, confirms after.
DANA = signer("dana@hcl.fr", first_name="Dana", last_name="Avant",
              organisation="Hospices Civils", publication="name_role_org")  # fmt: skip


def _to(mails: list[EmailMessage], address: str) -> EmailMessage:
    [mail] = [m for m in mails if m["To"] == address]
    return mail


async def _publish_everything(
    browser: httpx.AsyncClient, smtp: SmtpSink, address: str, organisation: str
) -> None:
    """The signer's own link: publish name, role and organisation, typed again (sealed)."""
    fields, _confirms = SEALED_SIGNERS[address]
    path = link(_to(smtp.messages, address), "withdraw")
    form = {
        "_csrf_token": csrf_of(await browser.get(path)),
        "publication": "name_role_org",
        **{k: fields[k] for k in ("first_name", "last_name", "role")},
        "organisation": organisation,
    }
    assert (await browser.post(f"{path}/publication", data=form)).status_code == 303


async def test_on_a_sealed_campaign_a_signer_publishing_no_organisation_is_verified_at_signing(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    password_hash: str,
    tmp_path: Path,
) -> None:
    public, _secret = write_key_pair(tmp_path / "reader", None)
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(public), clock())
    await _editor(sessions, settings, clock, campaign, password_hash)
    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            # Dana signs before hcl.fr is mapped, and confirms after: the mark is decided at
            # signing now (it was at confirmation), so this mapping comes too late for her.
            async with server.client() as browser:
                assert (await sign(browser, SLUG, DANA)).status_code == 303
            assert (await _map(editor, "hcl.fr", "Hospices Civils")).status_code == 303
            # The snapshot signing reads takes the new domain at once.
            assert (await _map(editor, "chu-lyon.fr", "CHU de Lyon")).status_code == 303
        await _sign_sealed(server, smtp)

        async with sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Signature.last_name,
                        Signature.organisation,
                        Signature.sealed.is_not(None),
                        Signature.status,
                        Signature.affiliation_verified,
                    )
                )
            ).all()
        confirmed, pending = SignatureStatus.CONFIRMED, SignatureStatus.PENDING
        assert set(rows) == {
            (None, None, True, confirmed, True),  # Claire: nothing in clear, yet verified
            ("Quenneville", None, True, confirmed, True),  # Bruno: his name only
            ("Ormesson", "CHU de Lyon", True, confirmed, False),
            ("Attendu", "CHU de Lyon", True, pending, True),
            ("Avant", "Hospices Civils", True, confirmed, False),
        }
        for typed in ("CHU DE LYON", "Chu De Lyon", "Zylberstein"):
            await until_no_row_mentions(sessions, typed)

        async with server.client() as browser:
            text = _letter_text(await browser.get(f"/c/{SLUG}/letter"))
            # Shown only beside a published organisation; the pending one counts nowhere.
            assert "CHU de Lyon (1)" in text and "Hospices Civils (1)" in text
            assert "vérifiée" not in text and "Attendu" not in text
            assert "Bruno Quenneville" in text and "Zylberstein" not in text

            # Claire now publishes her organisation, typing it again: the mark decided at
            # signing shows beside it. Bruno types another one: no mark for him.
            await _publish_everything(browser, smtp, "claire@chu-lyon.fr", "CHU de Lyon")
            await _publish_everything(browser, smtp, "bruno@med.chu-lyon.fr", "Clinique du Parc")
            text = _letter_text(await browser.get(f"/c/{SLUG}/letter"))
        assert "CHU de Lyon (2, 1 affiliation vérifiée)" in text
        assert "Claire Zylberstein, Médecin DIM ✓ affiliation vérifiée" in text
        assert "Clinique du Parc (1)" in text and text.count("✓ affiliation vérifiée") == 1
    async with sessions() as session:
        bruno = await session.scalar(
            select(Signature.affiliation_verified).where(Signature.last_name == "Quenneville")
        )
    assert bruno is False


async def _sign_sealed(server: LiveServer, smtp: SmtpSink) -> None:
    async with server.client() as browser:
        for fields, _confirms in SEALED_SIGNERS.values():
            assert (await sign(browser, SLUG, fields)).status_code == 303
        mails = await smtp.wait_for(1 + len(SEALED_SIGNERS))
        addresses = [DANA["email"], *(a for a, (_f, yes) in SEALED_SIGNERS.items() if yes)]
        for address in addresses:
            assert (await press(browser, link(_to(mails, address), "confirm"))).status_code == 303
