"""A signer changes what of them is published through the link in their mail; nothing beyond
the new choice is shown afterwards, anywhere."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import Campaign, Publication, Signature
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.server import serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"


async def test_a_signer_narrows_what_is_published_through_their_link(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
) -> None:
    del campaign
    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        async with server.client() as browser:
            fields = signer(publication="name_role_org")
            assert (await sign(browser, SLUG, fields)).status_code == 303
            [mail] = await smtp.wait_for(1)
            assert (await press(browser, link(mail, "confirm"))).status_code == 303
            own = link(mail, "withdraw")
            page = await browser.get(own)
            assert 'value="name_role_org" checked' in page.text
            assert "Cache-Control" in page.headers and page.headers["cache-control"] == "no-store"

            letter = await browser.get(f"/c/{SLUG}/letter")
            assert "CHU de Lyon" in letter.text

            wrong = await browser.post(
                f"{own}/publication", data={"_csrf_token": csrf_of(page), "publication": "all"}
            )
            assert wrong.status_code == 422
            changed = await browser.post(
                f"{own}/publication",
                data={"_csrf_token": csrf_of(page), "publication": "name_role"},
            )
            assert changed.status_code == 303
            saved = await browser.get(changed.headers["location"])
            assert 'value="name_role" checked' in saved.text and 'role="status"' in saved.text

            letter = await browser.get(f"/c/{SLUG}/letter")
            listed = (await browser.get(f"/api/v1/campaigns/{SLUG}/signatories")).json()
        assert "Marie Curie" in letter.text and "Médecin DIM" in letter.text
        assert "CHU de Lyon" not in letter.text
        assert listed["signatories"][0]["organisation"] is None
        assert listed["signatories"][0]["role"] == "Médecin DIM"
        async with sessions() as session:
            stored = await session.scalar(select(Signature.publication))
        assert stored is Publication.NAME_ROLE

        # Once withdrawn, the link changes nothing more.
        async with server.client() as browser:
            page = await browser.get(own)
            assert (await browser.post(own, data={"_csrf_token": csrf_of(page)})).status_code == 303
            late = await browser.post(
                f"{own}/publication", data={"_csrf_token": csrf_of(page), "publication": "name"}
            )
            assert late.status_code in (404, 410)
