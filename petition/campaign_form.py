"""The campaign form of the dashboard: raw fields in, a CampaignSpec or messages per field out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from petition import i18n
from petition.campaigns import SLUG, ActionKit, CampaignSpec
from petition.forms import OPTIONAL_FIELDS, Errors, clean_email, clean_text, clean_title
from petition.i18n import _
from petition.models import CampaignKind, Grouping

BODY_MAX = 50_000


def parse_campaign(data: Mapping[str, object], *, slug: str | None = None) -> CampaignSpec | Errors:
    """Validate a campaign; `slug` is given when editing (it never changes after creation)."""
    errors: Errors = {}
    title, problem = clean_title(str(data.get("title", "")), 300)
    if problem:
        errors["title"] = problem
    if slug is None:
        slug = str(data.get("slug", "")).strip().lower()
        if not SLUG.match(slug) or len(slug) > 80:
            errors["slug"] = _("Use lower-case letters, digits and dashes, e.g. mission-sante.")
    body = str(data.get("body", "")).replace("\r\n", "\n").strip()
    if not body:
        errors["body"] = _("This field is required.")
    elif len(body) > BODY_MAX:
        errors["body"] = _("This is too long.")
    language = str(data.get("language", i18n.DEFAULT_LOCALE))
    if language not in i18n.LOCALES:
        errors["language"] = _("Choose the language of the text.")
    kind = str(data.get("kind", CampaignKind.PETITION.value))
    if kind not in {k.value for k in CampaignKind}:
        errors["kind"] = _("Choose a petition or an open letter.")
    grouping = str(data.get("grouping", Grouping.ORGANISATION.value))
    if grouping not in {g.value for g in Grouping}:
        errors["grouping"] = _("Choose how signatories are grouped.")
    goal = _goal(data.get("goal"), errors)
    opens = _day(data.get("opens"), "opens", errors)
    closes = _day(data.get("closes"), "closes", errors)
    if opens and closes and closes < opens:
        errors["closes"] = _("The campaign cannot close before it opens.")
    kit = _kit(data, errors)
    privacy: dict[str, str] = {}
    for name in ("controller", "privacy_contact"):
        privacy[name], problem = clean_text(str(data.get(name, "")), 300, required=False)
        if problem:
            errors[name] = problem
    if errors:
        return errors
    return CampaignSpec(
        slug=slug,
        title=title,
        kind=CampaignKind(kind),
        goal=goal,
        opens=opens,
        closes=closes,
        body_markdown=body,
        grouping=Grouping(grouping),
        kit=kit,
        controller=privacy["controller"],
        privacy_contact=privacy["privacy_contact"],
        language=language,
        required_fields=tuple(
            f for f in sorted(OPTIONAL_FIELDS) if data.get(f"require_{f}") == "yes"
        ),
    )


def _goal(value: object, errors: Errors) -> int | None:
    text = str(value or "").strip().replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0 or int(text) > 100_000_000:
        errors["goal"] = _("Give a whole number above zero, or leave empty.")
        return None
    return int(text)


def _day(value: object, field: str, errors: Errors) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = _("Give a date such as 2027-03-31.")
        return None


def _kit(data: Mapping[str, object], errors: Errors) -> ActionKit | None:
    """The optional action kit: nothing, or a title, a subject and a text (and an address)."""
    raw = {k: str(data.get(f"kit_{k}", "")) for k in ("title", "subject", "body", "email")}
    if not any(value.strip() for value in raw.values()):
        return None
    title, problem = clean_text(raw["title"], 200, required=True)
    if problem:
        errors["kit_title"] = problem
    subject, problem = clean_text(raw["subject"], 300, required=True)
    if problem:
        errors["kit_subject"] = problem
    body = raw["body"].replace("\r\n", "\n").strip()
    if not body:
        errors["kit_body"] = _("This field is required.")
    elif len(body) > BODY_MAX:
        errors["kit_body"] = _("This is too long.")
    email = None
    if raw["email"].strip():
        email, problem = clean_email(raw["email"])
        if problem:
            errors["kit_email"] = problem
    return ActionKit(title=title, subject=subject, body=body, email=email)


def four_eyes_choice(data: Mapping[str, object]) -> bool | None:
    """The four-eyes setting as an owner chose it; None when the form did not carry it (an
    editor's form has no such field), which leaves the setting as it is."""
    return {"on": True, "off": False}.get(str(data.get("four_eyes", "")))
