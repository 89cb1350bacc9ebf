"""Editors import a letter's addressees from a spreadsheet — all rows or none, every bad line
named — and download each addressee's pack: their salutation, their institution's staff first."""

from __future__ import annotations

import dataclasses
import io

import httpx
import pypdf
from sqlalchemy import func, select, update

from petition.db import SessionFactory
from petition.models import Addressee, Campaign, Publication, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of
from tests.support.public import signatures
from tests.support.server import serve

SLUG = "mission-sante"
EDITOR = "editrice@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
HEADER = "salutation;name;title;institution;email;organisations;domains\n"
GOOD = (
    "\ufeff" + HEADER
    + "Madame la directrice;Anne Morel;Directrice générale;CHU de Lyon;a.morel@chu-lyon.fr;"
    "CHU de Lyon|Hospices Civils de Lyon;chu-lyon.fr\n"
    + "Monsieur le directeur;Paul Roy;;CH de Vienne;direction@ch-vienne.fr;;ch-vienne.fr\n"
)  # fmt: skip
BAD = (
    HEADER
    + "Madame la directrice;Anne Morel;;CHU de Lyon;a.morel@chu-lyon.fr;;\n"  # line 2: good
    + ";Sans Formule;;CH de Nulle Part;x@nulle.fr;;\n"  # line 3: no salutation
    + "Monsieur;Jean Faux;;CH X;pas-une-adresse;;\n"  # line 4: bad address
    + "Madame;Anne Bis;;CHU de Lyon;a.morel@chu-lyon.fr;;\n"  # line 5: the same address
    + "Madame;Eve Dom;;CH Y;eve@ch-y.fr;;pas un domaine\n"  # line 6: bad domain
)  # fmt: skip


async def _upload(browser: httpx.AsyncClient, text: str) -> httpx.Response:
    token = csrf_of(await browser.get("/organiser/login"))
    return await browser.post(
        f"/dashboard/c/{SLUG}/addressees",
        data={"_csrf_token": token},
        files={"file": ("destinataires.csv", text.encode("utf-8"), "text/csv")},
    )


async def _addressees(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Addressee)) or 0)


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported_then_packs_put_staff_first(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    password_hash: str,
) -> None:
    for email, role in ((EDITOR, Role.EDITOR), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip
    now, confirmed = clock(), SignatureStatus.CONFIRMED
    full, with_role = Publication.NAME_ROLE_ORG, Publication.NAME_ROLE
    await signatures(
        sessions, campaign, [("Claire", "Dupont", full, confirmed, now)],
        role="Médecin DIM", organisation="Hospices civils de Lyon",
    )  # fmt: skip
    await signatures(
        sessions, campaign, [("Paul", "Discret", with_role, confirmed, now)],
        role="Pharmacien", organisation="CHU de Lyon",
    )  # fmt: skip
    await signatures(
        sessions, campaign, [("Zoé", "Ailleurs", full, confirmed, now)],
        role="Infirmière", organisation="CH de Vienne",
    )  # fmt: skip
    # Named otherwise, but confirmed from the CHU's domain (verified): one of its staff too.
    await signatures(
        sessions, campaign, [("Hugo", "Nord", full, confirmed, now)],
        role="Interne", organisation="Hôpital Nord",
    )  # fmt: skip
    async with sessions() as session, session.begin():
        await session.execute(
            update(Signature)
            .where(Signature.last_name == "Nord")
            .values(email_domain="med.chu-lyon.fr", affiliation_verified=True)
        )

    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            refused = await _upload(editor, BAD)
            assert refused.status_code == 422
            for line in (3, 4, 5, 6):
                assert f"Ligne {line}" in refused.text
            assert "Ligne 2" not in refused.text
            assert await _addressees(sessions) == 0  # not even the good line

            assert (await _upload(editor, GOOD)).status_code == 303
            page = await editor.get(f"/dashboard/c/{SLUG}/addressees")
            assert "Anne Morel" in page.text and "Paul Roy" in page.text
            assert await _addressees(sessions) == 2
            again = await _upload(editor, GOOD)  # the same people a second time: refused
            assert again.status_code == 422 and await _addressees(sessions) == 2

            async with sessions() as session:
                lyon = await session.scalar(
                    select(Addressee.id).where(Addressee.institution == "CHU de Lyon")
                )
            pdf = await editor.get(f"/dashboard/c/{SLUG}/addressees/{lyon}/pack.pdf")
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert pdf.headers["cache-control"] == "no-store"
        text = " ".join(
            page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages
        )
        flat = " ".join(text.split())
        assert "Madame la directrice," in flat
        assert "4 signatures confirmées" in flat
        own = flat.index("Signataires de CHU de Lyon (2)")
        others = flat.index("Tous les autres signataires (2)")
        assert own < flat.index("Hugo Nord, Interne, Hôpital Nord") < others
        assert "1 affiliation vérifiée" in flat
        assert own < flat.index("Claire Dupont, Médecin DIM, Hospices civils de Lyon") < others
        # Paul did not publish his organisation: he is among the others, and it is nowhere.
        assert flat.index("Paul Discret, Pharmacien") > others
        assert flat.count("CHU de Lyon") == flat.count("Signataires de CHU de Lyon") + 1

        async with server.client() as viewer:
            await login(viewer, VIEWER, PASSWORD)
            denied = await viewer.get(f"/dashboard/c/{SLUG}/addressees/{lyon}/pack.pdf")
            assert denied.status_code == 403
