"""A mail put together from its shape is, to the character, the mail rendered directly."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from petition import i18n, mail, templating
from petition.mail_shapes import PERSONAL, ShapedRenderer

AWKWARD = [
    "Marie",
    'Zoé & <Léa> "l\'aînée"',
    "  Jean   Pierre  ",
    "%(name)s {{ first_name }} {% raw %}",
    "Ωμέγα 山田 ‮",
    "",
]


def direct() -> mail.Renderer:
    return mail.Renderer(templating.mail_environment(), i18n.load_catalogs(), "Europe/Paris")


def context(name: str, first_name: str, n: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "campaign_title": "Mission « données de santé » & <hébergement>",
        "campaign_url": "https://petition.example/c/mission-sante",
        "first_name": first_name,
        "withdraw_url": f"https://petition.example/w/{n}-a&b<c>",
    }
    if name == "confirm":
        values |= {
            "confirm_url": f'https://petition.example/confirm/{n}?x=1&y="2"',
            "expires_at": datetime(2026, 12, 8, 18, 5, tzinfo=UTC),
        }
    return values


def counting(plain: mail.Render, calls: list[str]) -> mail.Render:
    """`plain`, noting the name of each mail it renders in `calls`."""

    def counted(name: str, locale: str, values: Mapping[str, Any]) -> mail.RenderedMail:
        calls.append(name)
        return plain(name, locale, values)

    return counted


@pytest.mark.parametrize("name", sorted(PERSONAL))
@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_a_mail_from_its_shape_is_the_mail_rendered_directly(name: str, locale: str) -> None:
    plain = direct()
    shaped = ShapedRenderer(plain)
    for n, first_name in enumerate(AWKWARD):
        values = context(name, first_name, n)
        assert shaped(name, locale, values) == plain(name, locale, values)


def test_a_burst_renders_its_templates_once_per_campaign_and_language() -> None:
    plain = direct()
    calls: list[str] = []
    shaped = ShapedRenderer(counting(plain, calls))
    for n in range(50):
        shaped("confirm", "fr", context("confirm", f"Personne {n}", n))
    shaped("confirm", "en", context("confirm", "Someone", 51))
    assert calls == ["confirm", "confirm"]


def test_other_mails_and_unusual_values_are_rendered_directly() -> None:
    plain = direct()
    calls: list[str] = []
    shaped = ShapedRenderer(counting(plain, calls))
    values = context("confirm", "Marie", 1)
    # A title holding the marker itself cannot be vouched for: rendered directly, each time.
    marked = {**values, "campaign_title": "a\x00first_name\x00b"}
    assert shaped("confirm", "fr", marked) == plain("confirm", "fr", marked)
    shaped("confirm", "fr", marked)
    assert calls == ["confirm", "confirm"]
