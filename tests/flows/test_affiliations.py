"""Organisers map email domains to organisations; a signer confirming from such a domain and
naming that organisation is shown as a verified affiliation — and only that mark is kept."""

from __future__ import annotations

import dataclasses
import html
import re

import httpx
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import Campaign, Role, Signature
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.privacy import until_no_row_mentions
from tests.support.server import serve
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
