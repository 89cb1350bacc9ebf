"""Random tokens, their stored hashes, and keyed hashes of email addresses."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from petition import mailboxes

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
    """The address as we write to it: trimmed, NFC, lower case (providers treat case alike)."""
    return unicodedata.normalize("NFC", address.strip()).lower()


def mailbox_key(address: str) -> str:
    """One form per mailbox, what is hashed: the normalised address without what its provider
    documents it ignores (petition.mailboxes: `+tag`, Gmail's dots, googlemail.com)."""
    return mailboxes.canonical(normalise_email(address))


def email_hash(secret: bytes, address: str) -> str:
    """HMAC-SHA256 of the mailbox key: lets us recognise a mailbox without keeping its address."""
    return _keyed(secret, mailbox_key(address))


def legacy_email_hash(secret: bytes, address: str) -> str:
    """The hash before the mailbox rules, of the normalised address: what rows made
    earlier hold for an address whose key the rules change."""
    return _keyed(secret, normalise_email(address))


def email_hashes(secret: bytes, address: str) -> tuple[str, ...]:
    """The hashes rows may hold for this address, the legacy one first; one if they agree."""
    normalised = normalise_email(address)
    key = mailboxes.canonical(normalised)
    legacy = _keyed(secret, normalised)
    return (legacy,) if key == normalised else (legacy, _keyed(secret, key))


def _keyed(secret: bytes, key: str) -> str:
    return hmac.digest(secret, key.encode(), "sha256").hex()


class LinkError(Exception):
    """A link that cannot be used; subclasses say why, for the page the signer sees."""


class UnknownLink(LinkError):
    pass


class ExpiredLink(LinkError):
    pass


class UsedLink(LinkError):
    pass
