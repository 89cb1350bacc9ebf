"""Every mail's HTML part is a small document that looks like the site: its title and language,
the brand's name and colour, the one action as a button with its address written out, a footer
saying why it came and who runs the site; nothing fetched from anywhere. Its plain-text part
carries the same links, for the people and the tests that read that one."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest

from petition import i18n, mail, templating
from petition.brand import Brand
from petition.mail_shapes import ShapedRenderer
from petition.settings import Settings

SITE = "https://petition.example"
EXPIRES = datetime(2030, 3, 2, 12, 0, tzinfo=UTC)
CONTEXTS: dict[str, dict[str, Any]] = {
    "confirm": {
        "campaign_title": "Mission « données de santé » & <hébergement>",
        "campaign_url": f"{SITE}/c/mission-sante",
        "first_name": "Zoé & <Léa>",
        "confirm_url": f"{SITE}/confirm/c0nf1rm-T0k3n?x=1&y=2",
        "withdraw_url": f"{SITE}/withdraw/w1thdr4w-T0k3n",
        "expires_at": EXPIRES,
    },
    "already_signed": {
        "campaign_title": "Mission « données de santé »",
        "campaign_url": f"{SITE}/c/mission-sante",
        "first_name": "Marie",
        "withdraw_url": f"{SITE}/withdraw/w1thdr4w-T0k3n",
    },
    "invitation": {
        "name": "Bruno",
        "inviter": "Olga",
        "campaign_title": "Mission « données de santé »",
        "link": f"{SITE}/organiser/password/1nv1t3",
        "days": 7,
    },
    "letter": {
        "addressee": SimpleNamespace(salutation="Madame la Ministre", institution="Ministère"),
        "campaign": SimpleNamespace(title="Lettre ouverte"),
        "count": 1234,
        "own": [1, 2],
        "letter_url": f"{SITE}/c/lettre/letter",
    },
    "manage": {"manage_url": f"{SITE}/manage/m4n4g3", "expires_at": EXPIRES},
    "my_data": {"count": 2},
    "password_reset": {
        "name": "Olga",
        "reset_url": f"{SITE}/organiser/password/r3s3t",
        "minutes": 30,
    },
}
# Per mail, the link its button leads to (the one thing the mail asks to do).
ACTION = {
    "confirm": "confirm_url",
    "invitation": "link",
    "manage": "manage_url",
    "password_reset": "reset_url",
}
OPERATOR = Brand(
    name="Collectif Santé Données",
    accent="#7a1f5c",
    operator="InterHop, association loi 1901",
    contact="contact@interhop.example",
)
_TEXT_LINK = re.compile(r"https?://\S+")


class Document(HTMLParser):
    """The elements of an HTML part, each with its attributes, and the text of its <title>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in_title = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def buttons(self) -> list[dict[str, str]]:
        """The links drawn as buttons: padded, with a background of their own."""
        return [a for a in self.all("a") if "padding" in a.get("style", "")]


def renderer(brand: Brand | None = None) -> mail.Renderer:
    env = templating.mail_environment(brand=brand)
    return mail.Renderer(env, i18n.load_catalogs(), "Europe/Paris")


def style(attrs: dict[str, str]) -> dict[str, str]:
    declarations = (d.partition(":") for d in attrs.get("style", "").split(";") if d.strip())
    return {name.strip(): value.strip() for name, _, value in declarations}


@pytest.mark.parametrize("brand", [Brand(), OPERATOR], ids=["default", "branded"])
@pytest.mark.parametrize("locale", i18n.LOCALES)
@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_each_html_part_is_a_titled_document_in_the_mails_language(
    name: str, locale: str, brand: Brand
) -> None:
    rendered = renderer(brand)(name, locale, CONTEXTS[name])
    assert rendered.html.startswith("<!doctype html>\n")
    document = Document(rendered.html)
    [html] = document.all("html")
    assert html["lang"] == locale
    assert document.title == rendered.subject
    assert {"charset": "utf-8"} in document.all("meta")
    assert any(m.get("name") == "viewport" for m in document.all("meta"))
    # Nothing a mail client would fetch: no image, no stylesheet, no font, no background.
    assert not re.search(r"\bsrc\s*=|url\(|<link\b|<img\b|@import", rendered.html)
    assert document.all("style") == [] and document.all("script") == []


@pytest.mark.parametrize("brand", [Brand(), OPERATOR], ids=["default", "branded"])
@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_both_parts_carry_the_same_links(name: str, brand: Brand) -> None:
    rendered = renderer(brand)(name, "fr", CONTEXTS[name])
    in_html = {a["href"] for a in Document(rendered.html).all("a")}
    in_text = set(_TEXT_LINK.findall(rendered.text))
    assert {href for href in in_html if href.startswith("http")} == in_text
    written_out = {href for href in in_html if href.startswith("mailto:")}
    assert written_out == ({f"mailto:{brand.contact}"} if brand.contact else set())


@pytest.mark.parametrize("name", sorted(ACTION))
def test_the_action_is_a_button_in_the_accent_with_its_address_written_out(name: str) -> None:
    rendered = renderer()(name, "fr", CONTEXTS[name])
    url = CONTEXTS[name][ACTION[name]]
    [button, *_] = Document(rendered.html).buttons()
    assert button["href"] == url
    assert url in _TEXT_LINK.findall(rendered.text)
    looks = style(button)
    assert (looks["background-color"], looks["color"]) == (Brand().accent, "#ffffff")
    assert "border-radius" in looks and looks["text-decoration"] == "none"
    # The same address follows as text, for clients that strip styles.
    written = [a for a in Document(rendered.html).all("a") if a["href"] == url]
    assert len(written) == 2
    assert rendered.html.count(f">{url.replace('&', '&amp;')}</a>") == 1


def test_the_confirmation_button_is_the_plain_text_link_and_withdrawing_is_second() -> None:
    rendered = renderer()("confirm", "en", CONTEXTS["confirm"])
    [confirm, withdraw] = Document(rendered.html).buttons()
    text_links = _TEXT_LINK.findall(rendered.text)
    assert [confirm["href"], withdraw["href"]] == [
        next(u for u in text_links if "/confirm/" in u),
        next(u for u in text_links if "/withdraw/" in u),
    ]
    # One filled button per mail: withdrawing is offered, outlined, never pressed by mistake.
    assert style(withdraw)["background-color"] == "#ffffff"
    assert style(withdraw)["color"] == Brand().accent


def test_the_accent_of_the_settings_is_the_buttons_colour() -> None:
    settings = Settings.from_env(
        {"PETITION_SITE_ACCENT": "#7A1F5C", "PETITION_SECRET_KEY": "k" * 40}
    )
    rendered = renderer(settings.brand())("confirm", "fr", CONTEXTS["confirm"])
    [confirm, withdraw] = Document(rendered.html).buttons()
    assert style(confirm)["background-color"] == "#7a1f5c"
    assert style(withdraw)["color"] == "#7a1f5c"
    assert Brand().accent not in rendered.html


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_the_site_is_named_as_the_brand_says_and_its_operator_signs(locale: str) -> None:
    default = renderer()("confirm", locale, CONTEXTS["confirm"])
    assert {"fr": "Pétitions", "en": "Petitions"}[locale] in default.html
    assert "InterHop" not in default.html + default.text

    branded = renderer(OPERATOR)("confirm", locale, CONTEXTS["confirm"])
    assert "Collectif Santé Données" in branded.html
    assert "Pétitions" not in branded.html and "Petitions" not in branded.html
    for part in (branded.html, branded.text):
        assert "InterHop, association loi 1901" in part
        assert "contact@interhop.example" in part


@pytest.mark.parametrize("name", ["confirm", "already_signed"])
@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_a_branded_mail_from_its_shape_is_the_mail_rendered_directly(
    name: str, locale: str
) -> None:
    plain = renderer(OPERATOR)
    shaped = ShapedRenderer(plain)
    for first_name in ("Marie", 'Zoé & <Léa> "l\'aînée"'):
        values = {**CONTEXTS[name], "first_name": first_name}
        assert shaped(name, locale, values) == plain(name, locale, values)
