"""Translations: French by default, English too. Catalogs are read from .po files at start-up."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"
LOCALE_DIR = Path(__file__).parent / "locale"

_NO_TRANSLATION = NullTranslations()
_current: ContextVar[NullTranslations | None] = ContextVar("translations", default=None)


def load_catalogs(locale_dir: Path = LOCALE_DIR) -> dict[str, NullTranslations]:
    """Compile each messages.po in memory: the .po files are the only source, no build step."""
    catalogs: dict[str, NullTranslations] = {}
    for locale in LOCALES:
        po_path = locale_dir / locale / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        catalogs[locale] = Translations(fp=buffer)
    return catalogs


@functools.lru_cache(maxsize=512)  # browsers send a few distinct headers, again and again
def negotiate(accept_language: str | None, explicit: str | None = None) -> str:
    """The locale to answer in: an explicit choice, else the browser's first supported one."""
    if explicit in LOCALES:
        return explicit
    for tag in _accept_language_order(accept_language or ""):
        primary = tag.split("-")[0].lower()
        if primary in LOCALES:
            return primary
    return DEFAULT_LOCALE


def _accept_language_order(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


@contextmanager
def using(catalogs: Mapping[str, NullTranslations], locale: str) -> Iterator[NullTranslations]:
    """Make `gettext` below answer in `locale` for the duration of a render."""
    translations = catalogs.get(locale, catalogs[DEFAULT_LOCALE])
    token = _current.set(translations)
    try:
        yield translations
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return (_current.get() or _NO_TRANSLATION).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return (_current.get() or _NO_TRANSLATION).ngettext(singular, plural, n)


def _(message: str) -> str:
    """Mark a message for extraction without translating it yet (translated where rendered)."""
    return message
