"""Organisers' second factor: TOTP codes accepted once within clock drift, and a drawn QR code."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import cast
from urllib.parse import quote

import pyotp
import pytest
import segno

from petition.totp import new_secret, provisioning_uri, qr_svg, verify

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# 15 s into a step, so that neither neighbour is a rounding accident.
NOW = datetime(2025, 3, 14, 12, 0, 15, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def _code(step_offset: int = 0) -> str:
    """The code an authenticator app shows, computed by pyotp independently of our module."""
    return pyotp.TOTP(SECRET).at(NOW + timedelta(seconds=30 * step_offset))


def test_new_secret_is_160_bits_of_base32() -> None:
    secret = new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 32 characters x 5 bits
    assert len(pyotp.TOTP(secret).byte_secret()) == 20
    assert new_secret() != secret


def test_current_code_returns_current_step() -> None:
    assert verify(SECRET, _code(), NOW, None) == STEP


def test_any_timezone_gives_the_same_step() -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert verify(SECRET, _code(), paris, None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_neighbouring_steps_are_accepted_for_clock_drift(offset: int) -> None:
    assert verify(SECRET, _code(offset), NOW, None) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_two_steps_away_is_refused(offset: int) -> None:
    assert verify(SECRET, _code(offset), NOW, None) is None


def test_a_used_code_cannot_be_replayed() -> None:
    used = verify(SECRET, _code(), NOW, None)
    assert used == STEP
    assert verify(SECRET, _code(), NOW, used) is None
    # Still refused a few seconds later, while the code is inside the drift window.
    assert verify(SECRET, _code(), NOW + timedelta(seconds=20), used) is None


def test_an_older_code_is_refused_after_a_newer_one() -> None:
    assert verify(SECRET, _code(-1), NOW, STEP) is None


def test_a_later_code_is_accepted_after_use() -> None:
    later = NOW + timedelta(seconds=30)
    assert verify(SECRET, _code(1), later, STEP) == STEP + 1


def test_spaces_are_ignored() -> None:
    code = _code()
    assert verify(SECRET, f" {code[:3]} {code[3:]} ", NOW, None) == STEP
    assert verify(SECRET, f"{code[:3]}\u00a0{code[3:]}", NOW, None) == STEP  # no-break space


def _fullwidth(code: str) -> str:
    return code.translate({ord("0") + i: 0xFF10 + i for i in range(10)})


@pytest.mark.parametrize(
    "code",
    [
        "",
        "   ",
        "12345",
        "abcdef",
        "1234567",
        "12345a",
        "-12345",
        "1" * 10_000,
        _code() + "0",
        _code()[:5],
        _fullwidth(_code()),  # NFKC would turn these into the right code: must still be refused
        cast(str, None),  # an absent form field, from an untyped caller
        cast(str, [_code()]),
    ],
)
def test_malformed_codes_are_refused_without_error(code: str) -> None:
    assert verify(SECRET, code, NOW, None) is None


def test_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(SECRET, _code(), NOW.replace(tzinfo=None), None)


def test_provisioning_uri_names_issuer_and_account() -> None:
    issuer, account = "Pétitions / Lyon: 2025 & co", "zoé@example.org"
    uri = provisioning_uri(SECRET, account, issuer)
    assert uri.startswith(f"otpauth://totp/{quote(issuer, safe='')}:{quote(account, safe='')}?")
    assert f"secret={SECRET}" in uri
    assert f"issuer={quote(issuer, safe='')}" in uri
    # What an authenticator app would read back from it.
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.secret, parsed.name, parsed.issuer) == (SECRET, account, issuer)
    assert (parsed.digits, parsed.interval) == (6, 30)


def test_provisioning_uri_refuses_a_malformed_secret() -> None:
    with pytest.raises(ValueError):
        provisioning_uri("not base32!", "zoe@example.org", "Pétitions")


URI = provisioning_uri(SECRET, "zoe@example.org", "Pétitions")


def test_qr_svg_is_a_self_contained_titled_element() -> None:
    svg = qr_svg(URI, "Code <QR> & secret")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg
    assert "<title>Code &lt;QR&gt; &amp; secret</title>" in svg
    assert 'role="img"' in svg
    assert "viewBox=" in svg and "width=" not in svg  # scales to its container
    assert set(re.findall(r"https?://[^\s\"'<>]*", svg)) <= {SVG_NAMESPACE}
    assert "<script" not in svg.lower()
    assert "href" not in svg and "url(" not in svg


def test_qr_svg_is_deterministic() -> None:
    assert qr_svg(URI, "QR") == qr_svg(URI, "QR")
    other = provisioning_uri(new_secret(), "zoe@example.org", "Pétitions")
    assert qr_svg(other, "QR") != qr_svg(URI, "QR")


def _drawn_modules(svg: str) -> tuple[int, set[tuple[int, int]]]:
    """Size and dark modules (row, column) of the picture, read back from the SVG path.

    No QR decoder (zbar) is available here, so this proves the picture is exactly the symbol
    segno encodes for the URI; segno's own test suite vouches for the encoding.
    """
    size = re.search(r'viewBox="0 0 (\d+) \1"', svg)
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg)
    assert size and path
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for move, dx, dy, length in re.findall(r"([Mm])(-?[\d.]+) (-?[\d.]+)h(\d+)", path[1]):
        # Each "h" is a line one module thick along the middle of its row.
        x, y = (float(dx), float(dy)) if move == "M" else (x + float(dx), y + float(dy))
        dark.update((int(y), int(x) + i) for i in range(int(length)))
        x += int(length)
    return int(size[1]), dark


def test_qr_svg_draws_the_symbol_of_the_uri() -> None:
    size, dark = _drawn_modules(qr_svg(URI, "QR"))
    # Whatever error-correction level the module picks, the picture must be a full QR code of URI.
    candidates = []
    for level in "lmqh":
        rows = list(segno.make_qr(URI, error=level).matrix_iter(border=4))
        on = {(r, c) for r, row in enumerate(rows) for c, bit in enumerate(row) if bit}
        candidates.append((len(rows), on))
    assert (size, dark) in candidates
