"""Hypothesis strategies for the values a hostile or merely unusual browser sends.

Text: control characters (C0, DEL, C1, NUL), fields of 10,000 characters and more, accented names
in every normal form (NFC, NFD, NFKC, NFKD), bidirectional overrides, spreadsheet formulas, mail
header injection. Addresses: IDN and punycode domains, broken punycode, internationalised local
parts. Paths: percent-escapes of invalid UTF-8, numbers past 64 bits. Queries and headers.
How they are put into a request body: tests.fuzz.submissions.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

CONTROLS = (
    [chr(c) for c in range(0x20)]  # C0, NUL first
    + ["\x7f"]  # DEL
    + [chr(c) for c in range(0x80, 0xA0)]  # C1
)
ACCENTED = (
    "Élodie",
    "Chloé Lefèvre",
    "Zoë",
    "François",
    "Hélène d’Arc",
    "Ångström",
    "Dvořák",
    "Łukasz Wałęsa",
    "Nguyễn Thị Minh Khai",
    "Søren Kierkegaard",
    "Çağrı",
    "Ōtsuka",
    "Ñúñez",
    "ǅemal",  # a title-case digraph: NFKC splits it
    "Ｆｕｌｌｗｉｄｔｈ",  # NFKC folds it to ASCII
)
NORMAL_FORMS = ("NFC", "NFD", "NFKC", "NFKD")
TRICKY = (
    "",
    " ",
    "\u00a0",  # no-break space
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "\u2028",  # line separator
    "\u202eevil",  # right-to-left override
    "\u2066isolate\u2069",
    "\U0001f600\U0001f469\u200d\U0001f52c",
    "e\u0301\u0301\u0301\u0301\u0301\u0301\u0301",  # stacked combining marks
    '=HYPERLINK("http://example.org","x")',
    "+33 1 23 45 67 89",
    "-2+3",
    "@SUM(A1:A9)",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% for x in range(9) %}",
    "${jndi:ldap://127.0.0.1/x}",
    "' OR '1'='1",
    "Robert'); DROP TABLE signatures;--",
    "=?utf-8?q?=0D=0ABcc:_x@example.org?=",
    "x\r\nBcc: victim@example.org",
    "x\nSubject: injected",
    "%00",
    "%FF",
    "../../../etc/passwd",
    "null",
    "NaN",
    "-0",
    "1e309",
    "yes",
    "none",
    "name_role_org",
)


class Long(str):
    """A long drawn string that hypothesis reports by its start and length, not in full."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{str.__repr__(self[:40])}…({len(self)} characters)"


def _short_repr(text: str) -> str:
    return Long(text) if len(text) > 200 else text


# httpx refuses to send a URL past 64 KiB: a path segment or a query, percent-encoded, is cut
# to this (the cut may fall inside an escape: one more malformed input).
URL_PART_MAX = 20_000


def _url_part(text: str) -> str:
    return _short_repr(text[:URL_PART_MAX])


def accented_names() -> st.SearchStrategy[str]:
    return st.builds(_normalize, st.sampled_from(NORMAL_FORMS), st.sampled_from(ACCENTED))


def _normalize(form: str, text: str) -> str:
    return unicodedata.normalize(form, text)  # type: ignore[arg-type]  # one of NORMAL_FORMS


def long_texts() -> st.SearchStrategy[str]:
    """10,000 characters and more, built by repetition (cheap for hypothesis to draw)."""
    return st.builds(
        lambda unit, size: Long((unit * size)[:size]),
        st.one_of(st.text(min_size=1, max_size=3), accented_names(), st.sampled_from(CONTROLS)),
        st.integers(min_value=10_000, max_value=12_000),
    )


def texts() -> st.SearchStrategy[str]:
    """What may land in any text field."""
    controls = st.sampled_from(CONTROLS)
    return st.one_of(
        st.text(max_size=30),
        st.text(st.one_of(controls, st.characters(codec="utf-8")), max_size=30),
        st.lists(controls, min_size=1, max_size=5).map("".join),
        accented_names(),
        st.builds(lambda a, c, b: a + c + b, accented_names(), controls, accented_names()),
        st.sampled_from(TRICKY),
        long_texts(),
    )


IDN_DOMAINS = (
    "bücher.example",
    "xn--bcher-kva.example",
    "例え.テスト",
    "xn--r8jz45g.xn--zckzah",
    "пример.рф",
    "xn--e1afmkfd.xn--p1ai",
    "straße.de",  # IDNA 2003 maps ß to ss, IDNA 2008 keeps it
    "xn--strae-oqa.de",
    "İstanbul.example",
    "ﬀ.example",  # a ligature IDNA maps to "ff"
    "💩.la",
    "xn--ls8h.la",
    "example。org",  # an ideographic full stop, a label separator for IDNA
    "ｅｘａｍｐｌｅ.org",
    "exa\u200dmple.org",
    "exa\u00admple.org",  # a soft hyphen, mapped to nothing
    "xn--.example",
    "xn--zz-.example",
    "xn--a.example",
    "xn--ivl.example",
    "-bad.example",
    "bad-.example",
    "example..org",
    "example.org.",
    "localhost",
    "[127.0.0.1]",
    "a" * 64 + ".example",
    ".".join(["a" * 63] * 4) + ".example",
    "e\u0301cole.example",  # NFD: NFC makes it école
)
LOCAL_PARTS = (
    "marie.curie",
    "Marie.Curie",
    "jörg",
    "jo\u0308rg",  # NFD
    "josé+pétition",
    "\u0430dmin",  # Cyrillic a
    '"quoted"',
    "a b",
    ".dot",
    "dot.",
    "a..b",
    "a" * 65,
    "=?utf-8?q?x?=",
    "x\r\nBcc: victim@example.org\r\n",
    "",
)


def emails() -> st.SearchStrategy[str]:
    """Addresses, plausible or not: IDN, punycode, normal forms, injection, junk."""
    made = st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.sampled_from(LOCAL_PARTS),
        st.sampled_from(IDN_DOMAINS),
    )
    return st.one_of(
        st.emails(),
        made,
        st.builds(_normalize, st.sampled_from(NORMAL_FORMS), made),
        st.builds(lambda a, b: f"{a}@{b}", texts(), texts()),
        st.sampled_from(("@", "a@", "@b.org", "a@b@example.org", "marie.curie＠example.org")),
        texts(),
    ).map(_short_repr)


# Path segments, already percent-encoded as they go on the wire.
RAW_SEGMENTS = (
    "%00",
    "%FF",
    "%FF%FE",
    "%C0%AF",  # an overlong "/"
    "%ED%A0%80",  # an encoded surrogate
    "%F4%90%80%80",  # past U+10FFFF
    "%E2%82",  # truncated sequence
    "%",
    "%Z9",
    "%2F",
    "%2e%2e",
    "..",
    ".",
    "%20",
    "%0D%0ALocation:%20http://example.org",
)
BIG_NUMBERS = (
    "99999999999999999999",
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    str(10**40),
    "-1",
    "0",
    "-9223372036854775809",
    "00000000000000000000000001",
    "1e3",
    "1_000",  # Python's int() accepts it
    "+1",
    "١٢٣",  # Arabic-Indic digits: int() accepts them too
    "０",
    "0x10",
)


def numbers() -> st.SearchStrategy[str]:
    """Path numbers: within 64 bits and far beyond, and strings that look like numbers."""
    return st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.sampled_from(BIG_NUMBERS).map(lambda n: quote(n, safe="")),
    )


def segments(real: Sequence[str]) -> st.SearchStrategy[str]:
    """One path segment: a value that exists, a mangled one, or anything."""
    known = st.sampled_from(real)
    return (
        st.one_of(
            known,
            known,
            st.builds(_mangle, known, st.integers(min_value=0, max_value=5), st.text(max_size=3)),
            texts().map(lambda text: quote(text, safe="")),
            st.sampled_from(RAW_SEGMENTS),
            numbers(),
        )
        .map(_url_part)
        .filter(_not_a_dot_segment)
    )


def _not_a_dot_segment(segment: str) -> bool:
    """`.` and `..` are resolved away by every client (RFC 3986, 5.2.4): no server sees them."""
    return segment not in {".", ".."}


def _mangle(value: str, how: int, extra: str) -> str:
    mangled = (
        value[:-1],
        value + (extra or "x"),
        value.upper(),
        value[::-1],
        value * 40,
        extra + value,
    )[how]
    return quote(mangled, safe="")


QUERY_KEYS = ("lang", "cursor", "done", "saved", "password", "next", "page", "status", "q")


def queries() -> st.SearchStrategy[str]:
    """A query string (without "?"): duplicated keys, junk escapes, 10,000+ characters."""
    keys = st.one_of(st.sampled_from(QUERY_KEYS), texts())
    values = st.one_of(st.sampled_from(("fr", "en", "1", "saved", "data", "withdrawn")), texts())
    pairs = st.lists(st.tuples(keys, values), max_size=5).map(
        lambda items: urlencode(items, quote_via=quote)
    )
    raw = st.sampled_from(("%", "%FF", "a=%ZZ", "&&&", "=", "a", ";;", "lang=%00", "cursor=%FF"))
    return st.one_of(pairs, raw, st.builds(lambda a, b: f"{a}&{b}", pairs, raw)).map(_url_part)


# Header values as bytes a client may legally put on the wire (no CR, LF or NUL): ASCII and the
# "obs-text" bytes 0x80-0xFF, which servers decode as latin-1.
_HEADER_BYTES = bytes([*range(0x21, 0x7F), *range(0x80, 0x100)])
HEADER_NAMES = (
    "accept-language",
    "origin",
    "sec-fetch-site",
    "x-forwarded-for",
    "if-none-match",
    "if-modified-since",
    "cookie",
    "referer",
)
HEADER_SAMPLES = (
    b"fr;q=abc",
    b"en;q=1e999, fr;q=nan",
    b"*",
    b"," * 200,
    b"-" * 8000,
    b"null",
    b"same-origin",
    b"cross-site",
    b"http://petition.test",
    b"http://evil.example",
    b"1.2.3.4, ::1, garbage",
    b'W/"x", *',
    b"Thu, 01 Jan 1970 00:00:00 GMT",
    b"Fri, 31 Dec 9999 23:59:59 GMT",
    b"Sun, 00 Foo 0000 99:99:99 GMT",
    b"csrftoken=" + "é".encode() * 70,
    b"lang=en; organiser=" + b"x" * 500,
    b"csrftoken=; csrftoken=a; lang=\xff",
)


def header_safe(value: bytes) -> bytes:
    """Only what a client may put in a header value (h11 refuses to send anything else)."""
    kept = bytes(b for b in value if b in _HEADER_BYTES or b in b" \t")
    return kept.strip(b" \t")


def header_values() -> st.SearchStrategy[bytes]:
    anything = st.binary(max_size=40).map(lambda b: bytes(_HEADER_BYTES[x % 190] for x in b))
    return st.one_of(st.sampled_from(HEADER_SAMPLES), anything)


def headers() -> st.SearchStrategy[tuple[tuple[str, bytes], ...]]:
    """A few odd request headers: language, origin, forwarding, caching, cookies."""
    return st.lists(
        st.tuples(st.sampled_from(HEADER_NAMES), header_values()),
        max_size=3,
        unique_by=lambda pair: pair[0],
    ).map(tuple)
