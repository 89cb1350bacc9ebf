"""A sealed letter reads as an unsealed one: its page, its PDF and each addressee's pack list
exactly what each signer chose to publish, and the same journey on an unsealed campaign gives
the same documents, word for word."""

from __future__ import annotations

import dataclasses
import html
import io
import re
from pathlib import Path

import httpx
import pypdf
from sqlalchemy import select

from petition import affiliations, organisers, readers
from petition.cli_keys import read_public, write_key_pair
from petition.db import SessionFactory
from petition.models import Addressee, Campaign, CampaignKind, Role, Signature
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.public import campaign_on
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SEALED, CLEAR = "lettre-scellee", "lettre-claire"
EDITOR = "editrice@collectif-sante.org"
ADDRESSEES = (
    "salutation;name;title;institution;email;organisations;domains\n"
    "Madame la directrice;Anne Morel;Directrice générale;CHU de Lyon;a.morel@chu-lyon.fr;;"
    "chu-lyon.fr\n"
)
# Every publication choice; chu-lyon.fr is mapped to the CHU de Lyon, so the first two are
# verified affiliations too, which nothing may show (they publish no organisation).
SIGNERS = [
    signer("a@chu-lyon.fr", first_name="Aldegonde", last_name="Zybertowicz",
           role="Kinesitherapeute", organisation="CHU de Lyon", publication="none"),
    signer("b@chu-lyon.fr", first_name="Bertille", last_name="Quenouille",
           role="Sagefemme", organisation="CHU de Lyon", publication="name"),
    signer("c@example.org", first_name="Casimir", last_name="Vantablack",
           role="Orthoptiste", organisation="Centre Peupliers", publication="name_role"),
    signer("d@med.chu-lyon.fr", first_name="Donatienne", last_name="Hurluberlu",
           role="Ergotherapeute", organisation="chu de lyon", publication="name_role_org"),
    signer("e@example.org", first_name="Eudoxie", last_name="Pamplemousse",
           role="Podologue", organisation="Hopital Marronniers", publication="name_role_org"),
    signer("f@example.org", first_name="Fulbert", last_name="Tartempion",
           role="Radiologue", organisation="CHU de Lyon", publication="name_role_org"),
]  # fmt: skip
# Signs and never confirms: nowhere.
PENDING = signer("g@chu-lyon.fr", first_name="Gontran", last_name="Attendu", role="Cardiologue",
                 organisation="CHU de Lyon", publication="name_role_org")  # fmt: skip
HIDDEN = [
    *("Aldegonde", "Zybertowicz", "Kinesitherapeute", "Sagefemme", "Centre Peupliers"),
    *("Gontran", "Attendu", "Cardiologue"),
]
VERIFIED = "✓ affiliation vérifiée"

# The letter's list, grouped by organisation: each line as much as its signer published.
LETTER = {
    "CHU de Lyon (2, 1 affiliation vérifiée)": [
        f"Donatienne Hurluberlu, Ergotherapeute {VERIFIED}",
        "Fulbert Tartempion, Radiologue",
    ],
    "Hopital Marronniers (1)": ["Eudoxie Pamplemousse, Podologue"],
    "Autres signataires (2)": ["Bertille Quenouille", "Casimir Vantablack, Orthoptiste"],
}
LISTED = " ".join(" ".join([group, *lines]) for group, lines in LETTER.items())
COUNTS = (
    "6 signatures confirmées",
    "5 signataires ont accepté d’être nommés ici",
    "1 autre personne a signé sans être nommée",
)
# The pack: the institution's own staff first (by the organisation they published), each
# line with everything published; Bertille, from its domain but naming none, among the others.
OWN, OTHERS = "Signataires de CHU de Lyon (2)", "Tous les autres signataires (3)"
PACK_OWN = [
    f"Donatienne Hurluberlu, Ergotherapeute, chu de lyon {VERIFIED}",
    "Fulbert Tartempion, Radiologue, CHU de Lyon",
]
PACK_OTHERS = [
    "Eudoxie Pamplemousse, Podologue, Hopital Marronniers",
    "Bertille Quenouille",
    "Casimir Vantablack, Orthoptiste",
]


@dataclasses.dataclass(frozen=True)
class Seen:
    """What a letter's readers and an addressee get, its slug taken out."""

    groups: list[str]  # the letter page's group headings
    lines: list[str]  # the letter page's signatories, one per line
    page: str  # the letter on the page, as text
    pdf: str  # the letter's PDF, as text
    pack: str  # the addressee's pack, as text


def _flat(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


async def _letter_campaign(sessions: SessionFactory, clock: FakeClock, slug: str) -> Campaign:
    campaign = await campaign_on(
        sessions, clock, slug, title="Lettre ouverte aux directeurs", kind=CampaignKind.LETTER
    )
    async with sessions() as session, session.begin():
        await affiliations.add(session, campaign.id, "chu-lyon.fr", "CHU de Lyon", clock())
    return campaign


async def _sign_all(server: LiveServer, smtp: SmtpSink, slug: str) -> None:
    async with server.client() as browser:
        before = len(smtp.messages)
        for fields in [*SIGNERS, PENDING]:
            assert (await sign(browser, slug, fields)).status_code == 303
        mails = (await smtp.wait_for(before + len(SIGNERS) + 1))[before:]
        for mail in mails:
            if mail["To"] != PENDING["email"]:
                assert (await press(browser, link(mail, "confirm"))).status_code == 303


async def _seen(browser: httpx.AsyncClient, sessions: SessionFactory, slug: str) -> Seen:
    token = csrf_of(await browser.get("/organiser/login"))
    upload = ("destinataires.csv", ADDRESSEES.encode(), "text/csv")
    imported = await browser.post(
        f"/dashboard/c/{slug}/addressees", data={"_csrf_token": token}, files={"file": upload}
    )
    assert imported.status_code == 303
    async with sessions() as session:
        addressee = await session.scalar(
            select(Addressee.id).join(Campaign).where(Campaign.slug == slug)
        )
    page = await browser.get(f"/c/{slug}/letter")
    pdf = await browser.get(f"/c/{slug}/letter.pdf")
    pack = await browser.get(f"/dashboard/c/{slug}/addressees/{addressee}/pack.pdf")
    assert page.status_code == pdf.status_code == pack.status_code == 200
    [article] = re.findall(r'<article class="letter">.*?</article>', page.text, re.DOTALL)
    return Seen(
        groups=[_flat(h) for h in re.findall(r"<h3>(.*?)</h3>", article, re.DOTALL)],
        lines=[_flat(li) for li in re.findall(r"<li>(.*?)</li>", article, re.DOTALL)],
        page=_flat(article).replace(slug, "SLUG"),
        pdf=" ".join(_pdf_text(pdf.content).split()).replace(slug, "SLUG"),
        pack=" ".join(_pdf_text(pack.content).split()).replace(slug, "SLUG"),
    )


async def test_a_sealed_letter_and_its_packs_show_what_each_signer_published_as_unsealed_ones(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    password_hash: str,
    tmp_path: Path,
) -> None:
    sealed = await _letter_campaign(sessions, clock, SEALED)
    clear = await _letter_campaign(sessions, clock, CLEAR)
    editor = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), sealed, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    public, _secret = write_key_pair(tmp_path / "reader", None)
    async with sessions() as session, session.begin():
        await organisers.grant(session, editor, clear, Role.EDITOR)
        await readers.add_campaign_key(session, sealed, read_public(public), clock())

    async with serve(dataclasses.replace(settings, breakdown_seconds=0), clock) as server:
        for slug in (SEALED, CLEAR):
            await _sign_all(server, smtp, slug)
        async with server.client() as browser:
            await login(browser, EDITOR, PASSWORD)
            seen = {slug: await _seen(browser, sessions, slug) for slug in (SEALED, CLEAR)}

    async with sessions() as session:
        kept = (
            await session.execute(
                select(Signature.last_name, Signature.organisation).where(
                    Signature.campaign_id == sealed.id, Signature.sealed.is_not(None)
                )
            )
        ).all()
    assert len(kept) == len(SIGNERS) + 1  # every one sealed, the clear columns as published
    assert (None, None) in kept and ("Quenouille", None) in kept

    letter = seen[SEALED]
    assert letter.groups == list(LETTER)
    assert letter.lines == [line for lines in LETTER.values() for line in lines]
    for text in (letter.page, letter.pdf):
        assert all(count in text for count in COUNTS)
        assert LISTED in text and text.count(VERIFIED) == 1
    assert re.fullmatch(r"[•\d/ ]*", letter.pdf.partition(LISTED)[2])  # bullets, page number
    for text in (letter.page, letter.pdf, letter.pack):
        assert [word for word in HIDDEN if word in text] == []
    assert "Madame la directrice," in letter.pack and COUNTS[0] in letter.pack
    own, others = letter.pack.index(OWN), letter.pack.index(OTHERS)
    assert own < others and "1 affiliation vérifiée" in letter.pack[own:others]
    assert letter.pack[own:others].endswith(" ".join(PACK_OWN) + " ")
    assert letter.pack[others:].startswith(" ".join([OTHERS, *PACK_OTHERS]) + " •")
    # Sealing changes none of it.
    assert seen[SEALED] == seen[CLEAR]
