"""What the audit log page says of an entry's details, in the reader's language.

Entries keep the details their callers stored (`{"format": "json", "status": "confirmed"}`): the
record must not change with the wording. They are put into words only when a page shows them,
each key by a message id and its values, so that the log reads as phrases (« Format : JSON,
État : Confirmées, du 1er décembre 2026 au 5 décembre 2026 ») rather than
`format=json status=confirmed`. Labels are the words the dashboard's forms use for the same
things. A key no caller stores yet still shows, as `key: value`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from petition import dates, defences, i18n
from petition.i18n import _

# Keys shown as "label: value", their values as stored (user text, domains, rule names).
LABELS = {
    "name": _("Name"),  # part of a signer's name, in a moderation rule
    "member": _("Name"),  # an organiser added to the team
    "organisation": _("Organisation"),
    "email_domain": _("Email domain"),
    "domain": _("Domain"),
    "reason": _("Reason"),
    "batch": _("Batch"),  # of paper signatures
    "reference": _("Reference"),
    "previous_reference": _("Previous reference"),
    "language": _("Language"),  # of a version of the campaign's text
    "languages": _("Languages"),
    "threshold": _("Threshold"),  # of a milestone
    "update": _("News"),  # the number of an update to signers
    "changed": _("Changed"),  # the official petition's settings changed
}
SETTING_STATES = {"on": _("on"), "off": _("off")}
# Keys whose stored values are codes, shown by the dashboard's words for them.
CODES: dict[str, tuple[str, Mapping[str, str]]] = {
    "status": (
        _("Status"),
        {
            "pending": _("Awaiting confirmation"),
            "confirmed": _("Confirmed"),
            "withdrawn": _("Withdrawn"),
            "invalidated": _("Invalidated"),
            "quarantined": _("In quarantine (confirmed, not counted)"),
        },
    ),
    "role": (_("Role"), {"owner": _("Owner"), "editor": _("Editor"), "viewer": _("Viewer")}),
    "caught_by": (_("Rule"), defences.RULES),
    "rule": (_("Rule"), defences.RULES),
    # A setting changed, with its value before (four-eyes approval, so far the only one).
    "before": (_("Before"), SETTING_STATES),
    "after": (_("After"), SETTING_STATES),
}
LETTER_RECIPIENTS = {
    "all": _("to every addressee not sent yet"),
    "failed": _("again to those that failed"),
    "chosen": _("to the ticked addressees"),
}
LABEL_AND_VALUE = _("%(label)s: %(value)s")


def describe(details: Mapping[str, object], *, locale: str, tz: str) -> list[str]:
    """The phrases for an entry's details, in the catalog the page renders with."""
    zone = ZoneInfo(tz)
    return [
        _phrase(key, value, details, locale, zone)
        for key, value in details.items()
        if not (key == "until" and "since" in details)  # said with `since`, in one phrase
    ]


def _phrase(
    key: str, value: object, details: Mapping[str, object], locale: str, tz: ZoneInfo
) -> str:
    if key in ("since", "until"):
        period = _period(details.get("since"), details.get("until"), locale, tz)
        return period or _labelled(key.replace("_", " "), _text(value, locale))
    if key == "format":
        return _labelled(_("Format"), str(value).upper())
    if key == "role" and value == "none":
        return i18n.gettext(_("removed from the campaign"))
    if key in ("before", "after") and isinstance(value, int) and not isinstance(value, bool):
        return _labelled(CODES[key][0], _text(value, locale))  # a count, before and after
    if key in CODES:
        label, names = CODES[key]
        code = str(value)
        return _labelled(label, i18n.gettext(names[code]) if code in names else code)
    if key in LABELS:
        return _labelled(LABELS[key], _text(value, locale))
    if key == "ids" and isinstance(value, list):
        n = len(value)
        message = i18n.ngettext("%(num)s ticked signature", "%(num)s ticked signatures", n)
        return message % {"num": format_decimal(n, locale=locale)}
    if key == "rows" and isinstance(value, int):
        message = i18n.ngettext("%(num)s addressee", "%(num)s addressees", value)
        return message % {"num": format_decimal(value, locale=locale)}
    if key == "action" and value in LETTER_RECIPIENTS:
        return i18n.gettext(LETTER_RECIPIENTS[str(value)])
    if key == "member_id":
        # Left by audit.latest only when the account has gone since: it names the others.
        return i18n.gettext(_("organiser no. %(id)s")) % {"id": value}
    # A key no caller stored when this was written: its name, made readable.
    return _labelled(key.replace("_", " "), _text(value, locale))


def _period(since: object, until: object, locale: str, tz: ZoneInfo) -> str:
    """Dates stored as instants, shown as days: `until` is the midnight after the last day."""
    first = _day(since, tz)
    last = _day(until, tz, before=True)
    if first and last:
        message = i18n.gettext(_("from %(since)s to %(until)s"))
        return message % {"since": _shown(first, locale), "until": _shown(last, locale)}
    if first:
        return i18n.gettext(_("from %(since)s")) % {"since": _shown(first, locale)}
    if last:
        return i18n.gettext(_("up to %(until)s")) % {"until": _shown(last, locale)}
    return ""


def _shown(day: date, locale: str) -> str:
    # As every page says a day (12/1/26 would be ambiguous across languages).
    return dates.long_date(day, locale)


def _day(value: object, tz: ZoneInfo, *, before: bool = False) -> date | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # as the database keeps them
    return (moment.astimezone(tz) - timedelta(seconds=1 if before else 0)).date()


def _labelled(label: str, value: str) -> str:
    """`label` is a message id; an unknown key's name is no message id and stays as it is."""
    return i18n.gettext(LABEL_AND_VALUE) % {"label": i18n.gettext(label), "value": value}


def _text(value: object, locale: str) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return format_decimal(value, locale=locale)
    if isinstance(value, list):
        return ", ".join(_text(item, locale) for item in value)
    return str(value)
