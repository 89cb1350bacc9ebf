"""The signing form cleans what people type, and refuses what it must."""

from __future__ import annotations

import pytest

from petition.forms import SignatureForm, parse_signature
from petition.models import Publication


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "first_name": "  Zoé ",
        "last_name": "Lefe\u0300vre",  # "è" typed as e + combining grave accent
        "role": "Infirmière",
        "organisation": "",
        "email": " Zoe.Lefevre@Example.ORG ",
        "consent": "yes",
    }
    data.update(overrides)
    return data


def test_values_are_trimmed_and_normalised() -> None:
    parsed = parse_signature(_form())
    assert isinstance(parsed, SignatureForm)
    assert parsed.first_name == "Zoé"
    assert parsed.last_name == "Lefèvre" and len(parsed.last_name) == 7  # NFC: one code point
    assert parsed.organisation is None
    assert parsed.email == "zoe.lefevre@example.org"
    assert parsed.publication is Publication.NONE


@pytest.mark.parametrize("choice", [p.value for p in Publication])
def test_publication_is_the_choice_made(choice: str) -> None:
    parsed = parse_signature(_form(publication=choice))
    assert isinstance(parsed, SignatureForm)
    assert parsed.publication is Publication(choice)


def test_a_publication_choice_not_offered_is_refused() -> None:
    errors = parse_signature(_form(publication="everything"))
    assert errors == {"publication": "Please choose one of the options offered."}


def test_international_names_and_domains_are_welcome() -> None:
    parsed = parse_signature(
        _form(first_name="Łukasz", last_name="Nguyễn-O’Brien", email="a.b@hôpital.fr")
    )
    assert isinstance(parsed, SignatureForm)


def test_every_problem_is_reported_at_once() -> None:
    errors = parse_signature({"first_name": "\t", "email": "x@", "role": "+33 6"})
    assert isinstance(errors, dict)
    assert set(errors) == {"first_name", "last_name", "email", "role", "consent"}
