"""Drawn form submissions, and the exact bytes a client sends for each.

Every content type a client may claim (form, multipart with files in place of fields, JSON,
text/plain, none, odd ones), invalid UTF-8 in the raw body, duplicated and unknown fields, CSRF
tokens of every shape (missing, drawn, non-ASCII of 65 characters and more, a file, twice, in the
header, in a forged cookie), odd headers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from urllib.parse import quote, quote_from_bytes, urlencode

import httpx
from hypothesis import strategies as st

from tests.fuzz.strategies import header_safe, headers, texts

CSRF_FIELD = "_csrf_token"
CSRF_HEADER = "x-csrftoken"

INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xe2\x82",
    b"%FF",
    b"%C0%AF",
    b"%ED%A0%80",
    b"%",
    b"\x00",
)
ENCODINGS = (
    "urlencoded",  # the two a browser sends first: submissions lean towards them
    "multipart",
    "json",
    "text",  # what an HTML form with enctype="text/plain" sends
    "raw",  # form-encoded, with bytes that are not UTF-8
    "none",  # form-encoded, with no Content-Type
    "odd-type",  # form-encoded, claiming another type or charset
)
ODD_TYPES = (
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=nonexistent",
    "application/x-www-form-urlencoded;;;",
    "application/json; charset=latin-1",
    "text/html",
    "application/octet-stream",
    "*/*",
    "garbage",
)
CSRF_VARIANTS = (
    "form",  # as the page gave it
    "missing",
    "drawn",  # replaced by a drawn value
    "non-ascii",  # 65 characters and more, not ASCII
    "file",  # sent as a file in a multipart body
    "twice",  # the page's, then a drawn one
    "header",  # in X-CSRFToken instead of the form
    "cookie",  # the cookie replaced by a drawn value
)


@dataclass(frozen=True)
class Submission:
    """How a drawn form submission departs from what a browser would send for the page."""

    values: tuple[tuple[str, str], ...]  # drawn values replacing the page's and defaults
    extra: tuple[tuple[str, str], ...]  # sent after the others: duplicates, unknown names
    csrf: str  # one of CSRF_VARIANTS
    csrf_value: str
    encoding: str  # one of ENCODINGS
    odd_type: str
    as_files: frozenset[str]  # multipart: these fields are sent as files
    garbage: bytes  # raw: put in place of the first drawn value
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    def __repr__(self) -> str:
        def short(value: object) -> str:
            text = repr(value)
            return text if len(text) <= 120 else f"{text[:120]}…({len(text)} chars)"

        parts = ", ".join(f"{f.name}={short(getattr(self, f.name))}" for f in fields(self))
        return f"Submission({parts})"


# What a browser sends: the page's form as it is, only the values typed differ.
AS_A_BROWSER = Submission(
    values=(),
    extra=(),
    csrf="form",
    csrf_value="",
    encoding="urlencoded",
    odd_type=ODD_TYPES[0],
    as_files=frozenset(),
    garbage=INVALID_UTF8[0],
)


def submissions(form_fields: Sequence[str]) -> st.SearchStrategy[Submission]:
    """Drawn submissions of a form with these fields (and the hidden ones pages add).

    Half of them carry the page's token, form-encoded, with no odd header: those get past the
    CSRF check to the handler; the others exercise the refusals."""
    names = st.sampled_from([*form_fields, CSRF_FIELD, "shown", "website", "altcha"])
    extra_names = st.one_of(names, texts())
    return st.builds(
        Submission,
        values=st.lists(st.tuples(names, texts()), max_size=4).map(tuple),
        extra=st.lists(st.tuples(extra_names, texts()), max_size=3).map(tuple),
        csrf=st.one_of(st.just("form"), st.sampled_from(CSRF_VARIANTS)),
        csrf_value=st.one_of(
            texts(),
            st.text(st.characters(min_codepoint=0x80, codec="utf-8"), min_size=65, max_size=200),
        ),
        encoding=st.one_of(st.sampled_from(ENCODINGS[:2]), st.sampled_from(ENCODINGS)),
        odd_type=st.sampled_from(ODD_TYPES),
        as_files=st.frozensets(names, max_size=2),
        garbage=st.one_of(st.sampled_from(INVALID_UTF8), st.binary(min_size=1, max_size=20)),
        headers=st.one_of(st.just(()), headers()),
    )


@dataclass(frozen=True)
class Wire:
    """A request ready to send: what httpx is given, byte for byte."""

    headers: dict[str, bytes]
    body: bytes
    # Form-encoded with its true type, the CSRF token in it and no foreign origin claimed: the
    # server must read the body to check the token, so past its size limit it must answer 413.
    read_for_token: bool = False


def encode(drawn: Submission, page_fields: dict[str, str], token: str) -> Wire:
    """The bytes a client sends for this submission of a form the page filled with `page_fields`."""
    values = {**page_fields, CSRF_FIELD: token}
    values.update(drawn.values)
    pairs = list(values.items()) + list(drawn.extra)
    headers = dict(drawn.headers)
    non_ascii = drawn.csrf_value if not drawn.csrf_value.isascii() else "é" * 65
    match drawn.csrf:
        case "missing" | "header" | "file":
            pairs = [(k, v) for k, v in pairs if k != CSRF_FIELD]
        case "drawn" | "non-ascii":
            chosen = drawn.csrf_value if drawn.csrf == "drawn" else non_ascii
            pairs = [(k, chosen if k == CSRF_FIELD else v) for k, v in pairs]
        case "twice":
            pairs.append((CSRF_FIELD, drawn.csrf_value))
        case "cookie":
            # Sent instead of the browser's cookies (an explicit header wins over the jar).
            headers["cookie"] = b"csrftoken=" + header_safe(drawn.csrf_value.encode())
    if drawn.csrf == "header":
        headers[CSRF_HEADER] = token.encode()
    # Where the request says it comes from is checked before the body is read (petition.web.csrf).
    read = drawn.csrf != "header" and not {"origin", "sec-fetch-site"} & headers.keys()
    files = {CSRF_FIELD: token} if drawn.csrf == "file" else {}
    encoding = "multipart" if files else drawn.encoding
    if encoding == "multipart":
        files.update((k, v) for k, v in pairs if k in drawn.as_files)
        body, content_type = _multipart([(k, v) for k, v in pairs if k not in files], files)
        headers["content-type"] = content_type.encode()
        return Wire(headers, body, read_for_token=read)
    body, flat_type = _flat(encoding, pairs, drawn)
    if flat_type is not None:
        headers["content-type"] = flat_type.encode()
    return Wire(headers, body, read_for_token=read and encoding in ("urlencoded", "raw"))


FORM = "application/x-www-form-urlencoded"


def _flat(
    encoding: str, pairs: list[tuple[str, str]], drawn: Submission
) -> tuple[bytes, str | None]:
    if encoding == "json":
        return json.dumps(dict(pairs)).encode(), "application/json"
    if encoding == "text":
        return "\r\n".join(f"{k}={v}" for k, v in pairs).encode(), "text/plain"
    body = urlencode(pairs, quote_via=quote).encode()
    if encoding == "raw":
        # The first drawn field's value as raw bytes, not UTF-8 (nor, for some, percent-escaped).
        name = drawn.values[0][0] if drawn.values else "first_name"
        body += b"&" + quote_from_bytes(name.encode()).encode() + b"=" + drawn.garbage
        return body, FORM
    if encoding == "none":
        return body, None
    if encoding == "odd-type":
        return body, drawn.odd_type
    return body, FORM


def _multipart(pairs: list[tuple[str, str]], files: dict[str, str]) -> tuple[bytes, str]:
    data: dict[str, list[str]] = {}
    for key, value in pairs:
        data.setdefault(key, []).append(value)
    uploads = [(k, (f"{k}.txt", v.encode(), "text/plain")) for k, v in files.items()]
    request = httpx.Request("POST", "http://fuzz.invalid/", data=data, files=uploads)
    # With no field at all httpx sends no multipart body: then an empty one, its closing only.
    empty = (b"--empty--\r\n", "multipart/form-data; boundary=empty")
    return (request.read(), request.headers["content-type"]) if data or uploads else empty
