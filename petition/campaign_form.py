"""The campaign form of the dashboard: raw fields in, a CampaignSpec or messages per field out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from petition.campaigns import SLUG, CampaignSpec
from petition.forms import OPTIONAL_FIELDS, Errors, clean_text
from petition.i18n import _
from petition.models import CampaignKind, Grouping

BODY_MAX = 50_000


def parse_campaign(data: Mapping[str, object], *, slug: str | None = None) -> CampaignSpec | Errors:
    """Validate a campaign; `slug` is given when editing (it never changes after creation)."""
    errors: Errors = {}
    title, problem = clean_text(str(data.get("title", "")), 300, required=True)
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
