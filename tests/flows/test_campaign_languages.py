"""An editor gives the campaign in English (and German) beside its French: each visitor reads
the version of their language, can switch to another, and everyone signs the same campaign."""

from __future__ import annotations

import html
import io
import re

import httpx
import pypdf
import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, CampaignText, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import csrf_of, displayed_count, link, press, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
TEXTS = f"/dashboard/c/{SLUG}/texts"
EDITOR = "editrice@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
FRENCH = "Pour une mission de contrôle sur les données de santé"
ENGLISH = "For an inquiry into health data"
GERMAN = "Für eine Untersuchung der Gesundheitsdaten"


@pytest.fixture
async def editor(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    for email, role in ((EDITOR, Role.EDITOR), (VIEWER, Role.VIEWER)):
        await factories.organiser_with_role(
            sessions, settings.load_secret_key(), campaign, role,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip


async def _save(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = csrf_of(await browser.get(TEXTS))
    return await browser.post(TEXTS, data={"_csrf_token": token, **fields})


async def _add_versions(server: LiveServer) -> None:
    async with server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        english = {"language": "en", "title": ENGLISH, "body": "We ask for an **inquiry**."}
        assert (await _save(browser, **english)).status_code == 303
        german = {"language": "de", "title": GERMAN, "body": "Wir fordern eine *Untersuchung*."}
        assert (await _save(browser, **german)).status_code == 303


async def _rows(sessions: SessionFactory) -> list[tuple[str, str]]:
    async with sessions() as session:
        found = await session.execute(
            select(CampaignText.language, CampaignText.title).order_by(CampaignText.language)
        )
        return [(language, title) for language, title in found.all()]


def _h1(page: str) -> str:
    match = re.search(r"<h1([^>]*)>([^<]*)</h1>", page)
    assert match, "no heading"
    return match.group(1) + "|" + html.unescape(match.group(2))


def _meta(page: str, name: str) -> str:
    match = re.search(rf'<meta property="{name}" content="([^"]*)">', page)
    assert match, name
    return html.unescape(match.group(1))


def _pdf(data: bytes) -> tuple[str, str]:
    """A PDF's text, flattened, and the language its catalog declares."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    return text, str(reader.root_object.get("/Lang", ""))


@pytest.mark.usefixtures("editor")
async def test_one_campaign_in_french_and_english_counts_every_signature_once(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    await _add_versions(server)
    assert await _rows(sessions) == [("de", GERMAN), ("en", ENGLISH)]
    async with sessions() as session:
        actions = (await session.execute(select(AuditEntry.action, AuditEntry.details))).all()
    assert [(a, d) for a, d in actions] == [
        ("add version", {"language": "en"}),
        ("add version", {"language": "de"}),
    ]

    async with server.client() as french, server.client() as english:
        page = (await french.get(f"/c/{SLUG}")).text
        assert '<html lang="fr">' in page and _h1(page) == f"|{FRENCH}"
        assert f"<title>{FRENCH}</title>" in page
        # The switch: plain links, each version named in its own language, this one current.
        switch = re.search(r'<nav class="versions"[^>]*>(.*?)</nav>', page, re.DOTALL)
        assert switch is not None
        assert re.findall(r'href="([^"]+)" hreflang="(\w+)" lang="\w+"', switch.group(1)) == [
            (f"/c/{SLUG}?version=fr", "fr"),
            (f"/c/{SLUG}?version=de", "de"),
            (f"/c/{SLUG}?version=en", "en"),
        ]
        assert 'aria-current="true">Français</a>' in switch.group(1)
        assert ">English</a>" in switch.group(1) and ">Deutsch</a>" in switch.group(1)

        page = (await english.get(f"/c/{SLUG}?lang=en")).text  # the interface's switch
        assert '<html lang="en">' in page and _h1(page) == f"|{ENGLISH}"
        assert "<strong>inquiry</strong>" in page and 'class="text" lang' not in page
        assert _meta(page, "og:title") == ENGLISH and _meta(page, "og:locale") == "en_GB"

        # A version asked for by name, in the other interface or in none of its languages.
        page = (await french.get(f"/c/{SLUG}?version=en")).text
        assert '<html lang="fr">' in page and _h1(page) == f' lang="en"|{ENGLISH}'
        assert '<div class="text" lang="en">' in page and f'<title lang="en">{ENGLISH}' in page
        assert _meta(page, "og:url").endswith(f"/c/{SLUG}?version=en")
        assert f'action="/c/{SLUG}?version=en#sign"' in page  # an error keeps the version
        assert f'href="/c/{SLUG}/letter.pdf?version=en"' in page
        for browser in (french, english):
            page = (await browser.get(f"/c/{SLUG}?version=de")).text
            assert _h1(page) == f' lang="de"|{GERMAN}' and "<em>Untersuchung</em>" in page
        # A language nobody wrote: the version of the visitor's interface.
        assert _h1((await english.get(f"/c/{SLUG}?version=it")).text) == f"|{ENGLISH}"

        # Signed in English, confirmed: one count, on every version's page.
        assert (await sign(english, SLUG, signer("alex@example.org"))).status_code == 303
        [mail] = await smtp.wait_for(1)
        assert (await press(english, link(mail, "confirm"))).status_code == 303
        assert await displayed_count(english, SLUG) == 1
        assert await displayed_count(french, SLUG) == 1
        page = (await french.get(f"/c/{SLUG}?version=de")).text
        assert 'data-count="1"' in page
        api = (await french.get(f"/api/v1/campaigns/{SLUG}")).json()["campaign"]
    assert api["count"] == 1
    assert api["languages"] == ["fr", "de", "en"]
    assert api["titles"] == {"fr": FRENCH, "de": GERMAN, "en": ENGLISH}


@pytest.mark.usefixtures("editor")
async def test_the_letter_and_its_pdf_come_in_each_version(server: LiveServer) -> None:
    await _add_versions(server)
    async with server.client() as reader:
        page = (await reader.get(f"/c/{SLUG}/letter?version=en")).text
        assert _h1(page) == f' lang="en"|{ENGLISH}'
        assert f'href="/c/{SLUG}/letter.pdf?version=en"' in page
        assert f'href="/c/{SLUG}?version=en"' in page  # back to the same version
        french, french_lang = _pdf((await reader.get(f"/c/{SLUG}/letter.pdf")).content)
        english_pdf = await reader.get(f"/c/{SLUG}/letter.pdf?version=en")
        english, english_lang = _pdf(english_pdf.content)
        german, german_lang = _pdf((await reader.get(f"/c/{SLUG}/letter.pdf?version=de")).content)
    assert english_pdf.headers["content-type"] == "application/pdf"
    assert FRENCH in french and "Nous demandons une mission de contrôle." in french
    assert ENGLISH in english and "We ask for an inquiry." in english
    assert GERMAN in german and "Wir fordern eine Untersuchung." in german
    assert ENGLISH not in french and FRENCH not in english
    # The document's language is its text's; the interface's words stay French here.
    assert (french_lang, english_lang, german_lang) == ("fr", "en", "de")
    assert "Signataires" in english and "Signataires" in german


@pytest.mark.usefixtures("editor")
async def test_a_preview_and_bad_versions_save_nothing(
    server: LiveServer, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        preview = await _save(
            browser, language="en", title=ENGLISH, body="We **ask**.", preview="1"
        )
        assert preview.status_code == 200
        assert '<section class="preview"' in preview.text and "<strong>ask</strong>" in preview.text
        no_title = await _save(browser, language="en", title=" ", body="We ask.")
        assert no_title.status_code == 422
        assert 'id="title-error"' in no_title.text and 'aria-invalid="true"' in no_title.text
        unknown = await _save(browser, language="xx", title=ENGLISH, body="We ask.")
        assert unknown.status_code == 422 and 'id="language-error"' in unknown.text
        own = await _save(browser, language="fr", title=FRENCH, body="Encore.")
        assert own.status_code == 422
        no_text = await _save(browser, language="en", title=ENGLISH, body="")
        assert no_text.status_code == 422 and 'id="body-error"' in no_text.text
        half_kit = await _save(
            browser, language="en", title=ENGLISH, body="We ask.", kit_subject="Objection"
        )
        assert half_kit.status_code == 422
        token = csrf_of(await browser.get(TEXTS))
        nothing = await browser.post(f"{TEXTS}/xx/remove", data={"_csrf_token": token})
        assert nothing.status_code == 303
        assert await _rows(sessions) == []
        page = (await browser.get(f"/c/{SLUG}")).text
        assert 'class="versions"' not in page  # one version: no switch

    async with server.client() as viewer:
        await login(viewer, VIEWER, PASSWORD)
        assert (await viewer.get(TEXTS)).status_code == 403
        token = csrf_of(await viewer.get("/organiser/login"))
        english = {"language": "en", "title": ENGLISH, "body": "We ask."}
        forbidden = await viewer.post(TEXTS, data={"_csrf_token": token, **english})
        assert forbidden.status_code == 403
    assert await _rows(sessions) == []
    async with sessions() as session:
        assert (await session.execute(select(AuditEntry))).first() is None


@pytest.mark.usefixtures("editor")
async def test_an_editor_changes_then_removes_a_version(
    server: LiveServer, sessions: SessionFactory
) -> None:
    await _add_versions(server)
    async with server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        form = await browser.get(f"{TEXTS}?language=en")
        assert f'value="{ENGLISH}"' in form.text and 'name="language" value="en"' in form.text
        changed = await _save(
            browser, language="en", title="For a health-data inquiry", body="We ask."
        )
        assert changed.status_code == 303
        page = (await browser.get(f"/c/{SLUG}?lang=en")).text
        assert _h1(page) == "|For a health-data inquiry"

        token = csrf_of(await browser.get(TEXTS))
        removed = await browser.post(f"{TEXTS}/en/remove", data={"_csrf_token": token})
        assert removed.status_code == 303
        assert await _rows(sessions) == [("de", GERMAN)]
        page = (await browser.get(f"/c/{SLUG}?lang=en")).text
        assert _h1(page) == f' lang="fr"|{FRENCH}'  # no English any more: the campaign's own
    async with sessions() as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert list(actions)[-2:] == ["edit version", "remove version"]


@pytest.mark.usefixtures("editor")
async def test_the_action_kit_letter_comes_in_the_version_read(
    server: LiveServer, smtp: SmtpSink, sessions: SessionFactory, campaign: Campaign
) -> None:
    async with sessions() as session, session.begin():
        stored = await session.get(Campaign, campaign.id)
        assert stored is not None
        stored.kit_title = "Opposition"
        stored.kit_subject = "Opposition — {last_name}"
        stored.kit_body = "Je soussigné(e) {first_name} {last_name} m'oppose au transfert."
    async with server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        english = {
            "language": "en", "title": ENGLISH, "body": "We ask.",
            "kit_subject": "Objection — {last_name}",
            "kit_body": "I, {first_name} {last_name}, object to the transfer.",
        }  # fmt: skip
        assert (await _save(browser, **english)).status_code == 303
    async with server.client() as browser:
        assert (await sign(browser, SLUG, signer())).status_code == 303
        [mail] = await smtp.wait_for(1)
        await press(browser, link(mail, "confirm"))
        taken = {}
        for version in ("en", "fr"):
            page = await browser.get(f"/c/{SLUG}/confirmed?version={version}")
            assert f'name="version" value="{version}"' in page.text
            form = {"_csrf_token": csrf_of(page), "first_name": "Ada", "last_name": "Kit"}
            kit = await browser.post(
                f"/c/{SLUG}/kit", data={**form, "format": "text", "version": version}
            )
            assert kit.status_code == 200
            taken[version] = kit.text
    assert taken["en"].startswith("Objection — Kit\n") and "I, Ada Kit, object" in taken["en"]
    assert taken["fr"].startswith("Opposition — Kit\n") and "Ada Kit m'oppose" in taken["fr"]
