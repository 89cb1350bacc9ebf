"""Addresses kept because their owners asked to be written to, sealed at rest.

A signer who ticks "keep me informed" and an organiser who is told of their campaigns'
milestones are written to later, when the address they typed is long gone from the outbox.
Their address is then kept sealed (libsodium's secret box, XSalsa20-Poly1305, through PyNaCl)
with a key derived from the server secret, one key per purpose: a copy of the database alone
reads none of them, and an address kept for one purpose does not open as another's. Lookups
never need them: duplicates are still found by the keyed hash (petition.tokens).
"""

from __future__ import annotations

import hashlib
import hmac

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

SUBSCRIBER = "subscriber-address"
ORGANISER = "organiser-address"


class Unreadable(ValueError):
    """A sealed address that does not open with this server's key (another secret, tampering)."""


def key(server_secret: bytes, purpose: str) -> bytes:
    """The key addresses kept for `purpose` are sealed with, derived from the server secret."""
    return hmac.new(server_secret, f"kept-address:{purpose}".encode(), hashlib.sha256).digest()


def seal(server_secret: bytes, purpose: str, address: str) -> bytes:
    """The address as stored: a random nonce, the ciphertext and its tag."""
    return bytes(SecretBox(key(server_secret, purpose)).encrypt(address.encode("utf-8")))


def unseal(server_secret: bytes, purpose: str, stored: bytes) -> str:
    try:
        return SecretBox(key(server_secret, purpose)).decrypt(stored).decode("utf-8")
    except CryptoError as error:
        raise Unreadable("a kept address that this server's secret does not open") from error
