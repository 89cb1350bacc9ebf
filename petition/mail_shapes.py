"""The mails of a burst rendered once per shape, each recipient's own values put in after.

When a campaign goes viral, the sender renders thousands of confirmation mails that differ only
by the signer's first name and their two links: three templates, a dozen translated sentences
and a date each time (~150 µs of CPU a mail). Here a mail is rendered once with a marker in
place of each personal value — a shape, kept per campaign text, language and expiry minute —
and each mail is that shape with its values put in: escaped in the HTML part as Jinja would
escape them, as they are in the plain parts. tests/test_mail_shapes.py holds the result side by
side with a direct rendering, for awkward values.

Only the mails listed here, whose templates print those values as they are (no filter, no test
on them), take this path; any other mail, or a context this cannot vouch for, is rendered
directly.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from markupsafe import escape

from petition.mail import Render, RenderedMail

# Per mail, the values that differ from one recipient to the next.
PERSONAL: dict[str, tuple[str, ...]] = {
    "confirm": ("first_name", "confirm_url", "withdraw_url"),
    "already_signed": ("first_name", "withdraw_url"),
}
SHAPES = 64  # kept at once: campaigns × languages × expiry minutes of a burst
_MARK = "\x00"  # no cleaned form field, title or link holds it
_SLOT = re.compile("\x00([a-z_]+)\x00")


class ShapedRenderer:
    """A mail renderer (same call as `mail.Renderer`) that renders each shape once."""

    def __init__(self, render: Render, *, shapes: int = SHAPES) -> None:
        self._render = render
        self._size = shapes
        self._shapes: OrderedDict[Hashable, RenderedMail] = OrderedDict()

    def __call__(self, name: str, locale: str, context: Mapping[str, Any]) -> RenderedMail:
        personal = PERSONAL.get(name)
        key = _key(name, locale, context, personal) if personal is not None else None
        if personal is None or key is None:
            return self._render(name, locale, context)
        shape = self._shapes.get(key)
        if shape is None:
            marked = {**context, **{field: f"{_MARK}{field}{_MARK}" for field in personal}}
            shape = self._render(name, locale, marked)
            self._shapes[key] = shape
            if len(self._shapes) > self._size:
                self._shapes.popitem(last=False)
        else:
            self._shapes.move_to_end(key)
        own = {field: context[field] for field in personal}
        return RenderedMail(
            subject=" ".join(_fill(shape.subject, own, str).split()),
            text=_fill(shape.text, own, str),
            html=_fill(shape.html, own, lambda value: str(escape(value))),
        )


def _key(
    name: str, locale: str, context: Mapping[str, Any], personal: tuple[str, ...]
) -> Hashable | None:
    """What the shape depends on, or None when this context must be rendered directly."""
    if not all(isinstance(context.get(field), str) for field in personal):
        return None
    shared = []
    for field, value in context.items():
        if field in personal:
            continue
        if isinstance(value, str) and _MARK in value:
            return None
        try:
            hash(value)
        except TypeError:
            return None
        shared.append((field, value))
    return (name, locale, frozenset(shared))


def _fill(shape: str, values: Mapping[str, str], write: Callable[[str], str]) -> str:
    """The shape with each marker replaced, in one pass: a value is never read for markers."""
    return _SLOT.sub(lambda found: write(values[found[1]]), shape)
