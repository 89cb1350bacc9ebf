"""Every string is translated; the visitor's language is honoured, and can be switched."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from petition import i18n
from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def _source_messages() -> set[str]:
    found: set[str] = set()
    for directory, method in ((ROOT / "petition", "python"), (ROOT / "templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**"
        options = {"**": {"extensions": "jinja2.ext.i18n"}} if method == "jinja2" else {}
        for _file, _line, message, _comments, _context in extract_from_dir(
            directory, method_map=[(pattern, method)], options_map=options, keywords=KEYWORDS
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_in_code_and_templates_has_a_french_translation() -> None:
    with (i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="fr")
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    source = _source_messages()
    assert len(source) > 50  # the extraction itself works
    missing = source - translated
    assert not missing, f"run `make messages` and translate: {sorted(missing)}"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "fr"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"),
        ("de-DE", "fr"),
        ("en;q=0.2,fr;q=0.8", "fr"),
        ("en;q=garbage", "en"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.usefixtures("campaign")
async def test_pages_follow_the_browser_language_and_the_visible_switch(server: LiveServer) -> None:
    async with server.client() as browser:
        french = await browser.get("/c/mission-sante")
        english = await browser.get("/c/mission-sante", headers={"Accept-Language": "en-US,en"})
        assert '<html lang="fr">' in french.text and "Prénom" in french.text
        assert '<html lang="en">' in english.text and "First name" in english.text
        assert 'href="/c/mission-sante?lang=en"' in french.text

        switched = await browser.get("/c/mission-sante?lang=en")
        assert "First name" in switched.text
        after = await browser.get("/")  # the choice is remembered
        assert '<html lang="en">' in after.text
        assert "Open campaigns" in after.text
