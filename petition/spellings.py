"""People type the same organisation or role in several ways: "CHU de Lyon", "chu de  lyon".
These count together, shown under their most common spelling."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable


def tidy(text: str) -> str:
    """A spelling as shown: NFC, spaces (of any kind) collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def key(text: str) -> str:
    """What two spellings of the same name share."""
    return tidy(text).casefold()


def same(a: str, b: str) -> bool:
    return key(a) == key(b)


def most_common(spellings: Counter[str]) -> str:
    """The most used spelling; among equally used ones, the first in code-point order."""
    return min(spellings, key=lambda spelling: (-spellings[spelling], spelling))


def merge(counted: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """(spelling, count) pairs merged by name, most frequent first, ties by name; empty ones
    (only spaces the database's trim() does not know, e.g. no-break spaces) left out."""
    totals: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for value, count in counted:
        spelling = tidy(value)
        if not spelling:
            continue
        name = spelling.casefold()
        totals[name] += count
        spellings.setdefault(name, Counter())[spelling] += count
    shown = {name: most_common(spellings[name]) for name in totals}
    ranked = sorted(totals, key=lambda name: (-totals[name], name, shown[name]))
    return [(shown[name], totals[name]) for name in ranked]
