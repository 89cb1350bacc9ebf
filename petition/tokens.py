"""Random tokens, their stored hashes, and keyed hashes of email addresses."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

TOKEN_BYTES = 32


def new_token() -> str:
    """A URL-safe random token of 256 bits: what goes into a link, never into the database."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps of a token. A plain hash suffices: tokens are 256 random bits."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    # Refuse absurd input before it reaches the database; real tokens are 43 URL-safe characters.
    return 20 <= len(token) <= 100 and all(c.isalnum() or c in "-_" for c in token)


def normalise_email(address: str) -> str:
    """One form per mailbox: trimmed, NFC, lower case (providers treat case alike)."""
    return unicodedata.normalize("NFC", address.strip()).lower()


def email_hash(secret: bytes, address: str) -> str:
    """HMAC-SHA256 of the normalised address: lets us recognise an address without keeping it."""
    return hmac.digest(secret, normalise_email(address).encode(), "sha256").hex()


class LinkError(Exception):
    """A link that cannot be used; subclasses say why, for the page the signer sees."""


class UnknownLink(LinkError):
    pass


class ExpiredLink(LinkError):
    pass


class UsedLink(LinkError):
    pass
