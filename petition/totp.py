"""Two-factor authentication for organisers: TOTP codes (RFC 6238) and their enrolment QR code.

The QR code is drawn by the server as inline SVG so that enrolment loads nothing from another
host: the secret it carries must never leave the page. At rest the secret is sealed
(libsodium's secret box, XSalsa20-Poly1305, through PyNaCl) with a key derived from the server
secret: a copy of the database alone gives no one the means to make codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp
import segno
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

# 160 bits, the key size RFC 4226 recommends: 32 base32 characters of 5 bits each.
SECRET_LENGTH = 32
DIGITS = 6
# Accept the step before and after the current one: phones' clocks drift and people type slowly.
DRIFT_STEPS = 1
# Generous enough for "123 456" typed with stray spaces; anything longer is not worth reading.
_MAX_INPUT_LENGTH = 32
_CODE = re.compile(r"[0-9]{6}")


SEALED_PREFIX = "box1:"


class UnreadableSecret(ValueError):
    """A sealed secret that does not open with this server's key (another secret, tampering)."""


def sealing_key(server_secret: bytes) -> bytes:
    """The key TOTP secrets are sealed with, derived from (and only from) the server secret."""
    return hmac.new(server_secret, b"totp-secret-box", hashlib.sha256).digest()


def seal(key: bytes, secret: str) -> str:
    """The secret as stored: a random nonce, the ciphertext and its tag, in base64."""
    box = SecretBox(key).encrypt(secret.encode("ascii"))
    return SEALED_PREFIX + base64.urlsafe_b64encode(bytes(box)).decode("ascii")


def unseal(key: bytes, stored: str) -> str:
    """The secret from what is stored; a value stored before sealing existed is read as is
    (the server seals those at start-up)."""
    if not is_sealed(stored):
        return stored
    try:
        return (
            SecretBox(key).decrypt(base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :])).decode()
        )
    except (CryptoError, ValueError) as exc:
        raise UnreadableSecret(
            "this two-factor secret does not open with the server secret"
        ) from exc


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def new_secret() -> str:
    """A random base32 TOTP secret (160 bits)."""
    # pyotp draws from secrets.SystemRandom, a cryptographic source.
    return pyotp.random_base32(length=SECRET_LENGTH)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """otpauth:// URI for authenticator apps (Key URI Format), label and parameters URL-encoded."""
    _totp(secret)  # Refuse a malformed secret here rather than in the organiser's phone.
    # Built here rather than by pyotp, whose label encoding leaves "/" as is; safe="" encodes
    # every reserved character, so ":" and "/" in a name cannot be mistaken for separators.
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode({"secret": secret, "issuer": issuer}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str, title: str) -> str:
    """The QR code of `uri` as an inline <svg> element, scalable, titled for screen readers.

    No XML declaration and no external reference: it goes straight into an HTML page.
    """
    # A full QR code, never a Micro QR code: authenticator apps cannot read the latter.
    # Level M survives the glare and moiré of a phone photographing a screen.
    qr = segno.make_qr(uri, error="m")
    # omitsize: a viewBox without width and height, so CSS sizes the code. The light quiet zone
    # is drawn explicitly so the code still scans on a page with a dark background.
    svg = qr.svg_inline(title=title, omitsize=True, dark="#000", light="#fff")
    # role="img" makes screen readers announce the <title> as the image's name.
    return svg.replace("<svg", '<svg role="img"', 1)


def verify(secret: str, code: str, now: datetime, last_used_step: int | None) -> int | None:
    """Check a 6-digit code at time `now` (timezone-aware), within one step of clock drift.

    Returns the 30-second time step that matched, or None. A code whose step is
    <= `last_used_step` is refused, so a code seen by someone else cannot be replayed: the caller
    stores the returned step. Spaces are ignored; anything not 6 digits is refused without error.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        # pyotp would read a naive datetime as local time: a wrong step, silently.
        raise ValueError("now must be timezone-aware")
    typed = _clean_code(code)
    if typed is None:
        return None
    totp = _totp(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step).encode(), typed.encode()):
            return step
    return None


def _clean_code(code: object) -> str | None:
    # `object`: form data can arrive as None or as a list from careless callers.
    if not isinstance(code, str) or len(code) > _MAX_INPUT_LENGTH:
        return None
    # Apps show codes as "123 456"; any whitespace (tab, no-break space) is as harmless.
    typed = "".join(code.split())
    # ASCII digits only: str.isdigit() would accept "١٢٣٤٥٦" or "¹²³⁴⁵⁶".
    return typed if _CODE.fullmatch(typed) else None


def _totp(secret: str) -> pyotp.TOTP:
    # pyotp checks here that the secret is base32 and at least 112 bits long (ValueError if not).
    return pyotp.TOTP(secret, digits=DIGITS)
