"""Form objects: parse raw form data into clean values, or into messages per field. No ORM here."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from petition.i18n import _
from petition.models import Publication
from petition.tokens import normalise_email

FIELD_LIMITS = {"first_name": 100, "last_name": 100, "role": 200, "organisation": 200}
OPTIONAL_FIELDS = frozenset({"role", "organisation"})
EMAIL_MAX = 254

# Bidirectional overrides and isolates let a name display as something else; never legitimate here.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs", "Co", "Cn"})
# Starts an encoded word in a mail header (RFC 2047): never in a title nor in an address.
ENCODED_WORD = "=?"
# A cell starting with one of these is evaluated as a formula by spreadsheets.
_FORMULA_PREFIXES = ("=", "+", "-", "@")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

Errors = dict[str, str]

# The publication choices offered to signers, in the order shown (message ids, translated by pages).
PUBLICATION_LABELS = {
    Publication.NONE.value: _("Nothing: count me only"),
    Publication.NAME.value: _("My name"),
    Publication.NAME_ROLE.value: _("My name and role"),
    Publication.NAME_ROLE_ORG.value: _("My name, role and organisation"),
}


@dataclass(frozen=True, slots=True)
class SignatureForm:
    first_name: str
    last_name: str
    role: str | None
    organisation: str | None
    email: str
    publication: Publication
    # A separate, unticked consent: news of this campaign by mail (petition.subscriptions).
    keep_informed: bool = False


def parse_signature(
    data: Mapping[str, str], required_optional: Iterable[str] = ()
) -> SignatureForm | Errors:
    """Clean a signing form; on any problem return {field: message id} and nothing else."""
    required = {"first_name", "last_name"} | (set(required_optional) & OPTIONAL_FIELDS)
    errors: Errors = {}
    texts: dict[str, str | None] = {}
    for name, limit in FIELD_LIMITS.items():
        value, error = clean_text(data.get(name, ""), limit, required=name in required)
        if error:
            errors[name] = error
        texts[name] = value or None
    email, email_error = clean_email(data.get("email", ""))
    if email_error:
        errors["email"] = email_error
    publication = publication_choice(data.get("publication", ""))
    if publication is None:
        errors["publication"] = _("Please choose one of the options offered.")
    if data.get("consent") != "yes":
        errors["consent"] = _("Please tick this box to sign: we cannot count you without it.")
    if errors or publication is None:
        return errors
    return SignatureForm(
        first_name=texts["first_name"] or "",
        last_name=texts["last_name"] or "",
        role=texts["role"],
        organisation=texts["organisation"],
        email=email,
        publication=publication,
        keep_informed=data.get("keep_informed") == "yes",
    )


def publication_choice(raw: str) -> Publication | None:
    """Nothing chosen means nothing published; anything but an offered choice is refused."""
    if not raw:
        return Publication.NONE
    try:
        return Publication(raw)
    except ValueError:
        return None


def clean_text(raw: str, limit: int, *, required: bool) -> tuple[str, str | None]:
    """Trim and NFC-normalise; refuse control characters, formula prefixes and excess length."""
    value = unicodedata.normalize("NFC", raw.strip())
    if not value:
        return "", _("This field is required.") if required else None
    if len(value) > limit:
        return "", _("This is too long.")
    # Nothing printable is forbidden: the check of each character is for the rest.
    if not value.isprintable() and any(_is_forbidden(char) for char in value):
        return "", _("This contains characters that are not allowed.")
    if value.startswith(_FORMULA_PREFIXES):
        return "", _("This cannot start with =, +, - or @.")
    return value, None


RETYPE = _(
    "Your name is kept sealed: we cannot read it to publish it. Type below what you want published."
)
# The limits of the signing form's fields, as the signature columns hold them.
FIELD_LIMITS = {"first_name": 100, "last_name": 100, "role": 200, "organisation": 200}


def retyped(data: Mapping[str, object]) -> dict[str, str]:
    """What a signer of a sealed campaign typed again to publish it; what is not valid is
    left out (as if not typed)."""
    found = {}
    for field, limit in FIELD_LIMITS.items():
        value, problem = clean_text(str(data.get(field, "") or ""), limit, required=False)
        if value and problem is None:
            found[field] = value
    return found


def clean_title(raw: str, limit: int) -> tuple[str, str | None]:
    """A title that also goes into mail subjects: clean text, and no encoded-word syntax
    (`=?utf-8?q?…?=`), which mail software would decode, line breaks included."""
    value, problem = clean_text(raw, limit, required=True)
    if problem is None and ENCODED_WORD in value:
        return "", _("This cannot contain =? (it has a meaning in mail headers).")
    return value, problem


def search_text(raw: object, limit: int) -> str:
    """What an organiser searches for or matches by: trimmed, NFC, without the characters no
    stored value has (controls, which some databases cannot even compare), at most `limit`."""
    value = unicodedata.normalize("NFC", str(raw or ""))
    return "".join(c for c in value if not _is_forbidden(c)).strip()[:limit]


def clean_email(raw: str) -> tuple[str, str | None]:
    value = normalise_email(raw)
    if not value:
        return "", _("This field is required.")
    if len(value) > EMAIL_MAX or not _is_plausible_email(value):
        return "", _("This does not look like an email address, e.g. name@example.org.")
    return value, None


def _is_forbidden(char: str) -> bool:
    # Controls, line and paragraph separators, surrogates, private use and unassigned.
    return unicodedata.category(char) in _FORBIDDEN_CATEGORIES or char in _BIDI_CONTROLS


def _is_plausible_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    if not at or not local or len(local) > 64 or ".." in local or ENCODED_WORD in local:
        return False
    if local.startswith(".") or local.endswith(".") or not _LOCAL_PART.match(local):
        return False
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return len(labels) >= 2 and all(_DOMAIN_LABEL.match(label) for label in labels)
