"""An open letter is published with its signatories, grouped as the organisers choose, never
showing more of anyone than they agreed to; on paper and as a PDF with the date and count."""

from __future__ import annotations

import dataclasses
import html
import io
import re
from collections.abc import AsyncIterator

import pypdf
import pytest
from sqlalchemy import update

from petition import dates
from petition.db import SessionFactory
from petition.models import Campaign, CampaignKind, Grouping, Publication, SignatureStatus
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.public import campaign_on, signatures
from tests.support.server import LiveServer, serve

SLUG = "lettre-directeurs"
CONFIRMED = SignatureStatus.CONFIRMED


@pytest.fixture
async def letter(sessions: SessionFactory, clock: FakeClock) -> Campaign:
    campaign = await campaign_on(
        sessions, clock, SLUG, title="Lettre ouverte aux directeurs", kind=CampaignKind.LETTER
    )
    now = clock()
    full, with_role = Publication.NAME_ROLE_ORG, Publication.NAME_ROLE
    await signatures(
        sessions, campaign,
        [("Claire", "Dupont", full, CONFIRMED, now), ("Jean", "Martin", full, CONFIRMED, now)],
        role="Médecin DIM", organisation="CHU de Lyon",
    )  # fmt: skip
    await signatures(
        sessions, campaign, [("Ines", "Rahmani", full, CONFIRMED, now)],
        role="Infirmière", organisation="chu de  lyon",
    )  # fmt: skip
    await signatures(
        sessions, campaign, [("Paul", "Secret", with_role, CONFIRMED, now)],
        role="Pharmacien", organisation="Clinique Discrète",
    )  # fmt: skip
    await signatures(
        sessions, campaign,
        [
            ("Anne", "Anonyme", Publication.NONE, CONFIRMED, now),
            ("Pierre", "Attente", full, SignatureStatus.PENDING, now),
            ("Luc", "Parti", full, SignatureStatus.WITHDRAWN, now),
        ],
        role="Cadre", organisation="Hôpital Caché",
    )  # fmt: skip
    return campaign


@pytest.fixture
async def fresh(settings: Settings, clock: FakeClock) -> AsyncIterator[LiveServer]:
    """A server whose letters are never served from an earlier computation."""
    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        yield server


def _day_in_french(clock: FakeClock) -> str:
    return dates.long_date(clock(), "fr", "Europe/Paris")


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.mark.usefixtures("letter")
async def test_the_letter_groups_signatories_by_organisation_showing_only_their_choice(
    fresh: LiveServer, clock: FakeClock
) -> None:
    async with fresh.client() as reader:
        page = await reader.get(f"/c/{SLUG}/letter")
        pdf = await reader.get(f"/c/{SLUG}/letter.pdf")
    assert page.status_code == 200 and pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert re.search(r'href="/static/print\.[0-9a-f]{12}\.css" media="print"', page.text)
    for text in (html.unescape(re.sub(r"<[^>]+>", " ", page.text)), _pdf_text(pdf.content)):
        flat = " ".join(text.split())
        # One group for the CHU whatever the spelling, largest first, then those without one.
        assert flat.index("CHU de Lyon (3)") < flat.index("Autres signataires (1)")
        assert "Claire Dupont, Médecin DIM" in flat and "Ines Rahmani, Infirmière" in flat
        assert "Paul Secret, Pharmacien" in flat
        # Never more than each agreed to: no organisation for Paul, nothing of Anne; the
        # pending and withdrawn are nowhere.
        for hidden in ("Clinique Discrète", "Anonyme", "Hôpital Caché", "Attente", "Parti"):
            assert hidden not in flat
        assert "5 signatures confirmées" in flat  # every confirmed one counts, named or not
        assert "4 signataires ont accepté d’être nommés ici" in flat
        assert "1 autre personne a signé sans être nommée" in flat
        assert f"Publiée le {_day_in_french(clock)}" in flat


async def test_the_letter_can_be_grouped_by_role(
    letter: Campaign, sessions: SessionFactory, fresh: LiveServer
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign).where(Campaign.id == letter.id).values(grouping=Grouping.ROLE)
        )
    async with fresh.client() as reader:
        pdf = await reader.get(f"/c/{SLUG}/letter.pdf", params={"lang": "en"})
    flat = " ".join(_pdf_text(pdf.content).split())
    assert "Médecin DIM (2)" in flat and "Pharmacien (1)" in flat
    assert "Claire Dupont, CHU de Lyon" in flat
    assert "Paul Secret" in flat and "Clinique Discrète" not in flat
    assert "5 confirmed signatures" in flat


async def test_an_unknown_letter_is_not_found(fresh: LiveServer) -> None:
    async with fresh.client() as reader:
        assert (await reader.get("/c/inconnue/letter")).status_code == 404
        assert (await reader.get("/c/inconnue/letter.pdf")).status_code == 404
