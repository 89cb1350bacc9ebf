"""A visitor reads what the site states of itself: how accessible it is, whom to turn to when it
is not (the operator, then the Défenseur des droits), and the operator's legal notice."""

from __future__ import annotations

import dataclasses
import html
import itertools
import re
from pathlib import Path

from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.server import serve

OPERATOR = "Collectif Santé Données, association loi 1901"
CONTACT = "accessibilite@collectif-sante.example"
RECOURSE = ("formulaire.defenseurdesdroits.fr", "09 69 39 00 00", "Libre réponse 71120")


def _words(markup: str) -> str:
    """What a page says, without its tags, on one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


async def _get(settings: Settings, clock: FakeClock, *requests: dict[str, str]) -> list[str]:
    """/accessibility as each request asks for it (headers), no cookie set by any of them."""
    answers = []
    async with serve(settings, clock) as server, server.client() as visitor:
        for headers in requests:
            page = await visitor.get("/accessibility", headers=headers)
            assert page.status_code == 200
            assert "set-cookie" not in page.headers  # cacheable by proxies, as the privacy notice
            assert page.headers["content-language"] == headers.get("Accept-Language", "fr")
            assert '<meta name="description" content="' in page.text
            answers.append(page.text)
    return answers


async def test_the_accessibility_statement_says_what_the_operator_configured(
    settings: Settings, clock: FakeClock
) -> None:
    configured = dataclasses.replace(
        settings,
        site_operator=OPERATOR,
        site_contact=CONTACT,
        accessibility_status="none",
        accessibility_audit="Audit RGAA par Accès Pour Tous, mars 2027 : 62 % des critères",
        accessibility_exceptions="Le graphique des signatures par jour\nLes cartes des délégués",
        accessibility_statement_date="2027-03-01",
    )
    french, english = await _get(configured, clock, {}, {"Accept-Language": "en"})
    for page in (french, english):
        assert OPERATOR in page
        assert f'<a href="mailto:{CONTACT}">{CONTACT}</a>' in page
        assert "mars 2027 : 62 % des critères" in page
        assert "<li>Le graphique des signatures par jour</li>" in page
        assert "<li>Les cartes des délégués</li>" in page
        for words in RECOURSE:
            assert words in page
    assert "1er mars 2027" in french and '<html lang="fr">' in french
    assert "1 March 2027" in english and '<html lang="en">' in english
    assert "This site is not conformant with the RGAA" in english
    # The recourse of the French procedure is also given in English on the French page; the
    # English page adds the French words once the catalog has them all.
    assert '<div class="recourse" lang="en">' in french
    assert "send a letter by post, free of charge" in french


async def test_unset_statement_settings_are_shown_honestly(
    settings: Settings, clock: FakeClock
) -> None:
    [english] = await _get(settings, clock, {"Accept-Language": "en"})
    words = _words(english)
    for honest in (
        "The operator of this site is committed to making this site accessible",
        "This site is partially conformant with the RGAA",
        "version 4.1.2",
        "level AA of the WCAG 2.2",
        "No independent audit of this site has been made",
        "axe-core",
        "W3C Nu HTML Checker",
        "Lighthouse",
        "keyboard alone",
        "without JavaScript",
        "No inaccessible content is known to date.",
        "This statement is not yet dated.",
        "The operator of this site has not given a contact yet.",
        "Défenseur des droits",
    ):
        assert honest in words
    levels = [int(level) for level in re.findall(r"<h([1-6])", english)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(levels))


async def test_the_legal_notice_shows_the_operator_markdown_sanitised(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    notice = tmp_path / "mentions.md"
    notice.write_text(
        "## Éditeur\n\nCollectif **Santé Données**, 12 rue de la Paix, Paris.\n\n"
        "<script>alert('notice')</script>\n\n"
        "[Hébergeur](javascript:alert(1)) : OVH, Roubaix.\n",
        encoding="utf-8",
    )
    with_notice = dataclasses.replace(settings, legal_notice_file=str(notice))
    async with serve(with_notice, clock) as server, server.client() as visitor:
        page = await visitor.get("/legal")
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert "<h2>Éditeur</h2>" in page.text
    assert "Collectif <strong>Santé Données</strong>" in page.text
    assert "<script>alert" not in page.text
    assert 'href="javascript:' not in page.text  # not made a link
    assert '<meta name="description" content="' in page.text
    assert "OVH, Roubaix." in _words(page.text)


async def test_there_is_no_legal_notice_page_without_a_notice(
    settings: Settings, clock: FakeClock
) -> None:
    async with serve(settings, clock) as server, server.client() as visitor:
        page = await visitor.get("/legal")
    assert page.status_code == 404
