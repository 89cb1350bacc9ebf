"""The action kit, filled in with a signer's name on request: text, PDF or a mailto: link.

Nothing of it is stored: the name comes with the request and leaves with the answer.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

FIELDS = ("first_name", "last_name", "date")


def fill(template: str, first_name: str, last_name: str, day: str) -> str:
    """Replace {first_name}, {last_name} and {date}; any other brace stays as written."""
    values = {"first_name": first_name, "last_name": last_name, "date": day}
    result = template
    for name in FIELDS:
        result = result.replace("{" + name + "}", values[name])
    return result


def mailto(email: str | None, subject: str, body: str) -> str:
    """A link that opens the signer's own mail client with the letter ready to send."""
    return f"mailto:{quote(email or '', safe='@')}?subject={quote(subject)}&body={quote(body)}"


def file_name(title: str, day: date, extension: str) -> str:
    stem = "".join(c if c.isalnum() else "-" for c in title.lower())[:60].strip("-") or "lettre"
    return f"{stem}-{day.isoformat()}.{extension}"
