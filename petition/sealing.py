"""Sealed names: what a signer did not agree to publish, readable only by the campaign's readers.

libsodium's sealed boxes (X25519 + XSalsa20-Poly1305, through PyNaCl), in envelope form:

- each reader (an organiser) has a key pair made on their own machine; the server keeps the
  public half only;
- each campaign has a data key pair; rows are sealed to its public half, and its secret half
  is sealed to every reader's public key (a grant). The server makes a data key pair when a
  campaign gets its readers or when they change, seals the secret half to each of them and
  forgets it: it is never written anywhere in clear. A server that could keep it is a server
  that also sees the names as they are typed, which no design of sealing can refuse;
  a copy of the database (a stolen backup, a seized disk) holds neither;
- a new set of readers gets a new data key (rotation): a removed reader holds no grant for
  signatures made after the removal; older keys stay for the rows sealed under them.

Every box starts with a version byte, so that the algorithm can change without guessing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from nacl import pwhash, utils
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

VERSION = b"\x01"
# The fields of a signer that may be sealed, in the order of an export's columns.
FIELDS = ("first_name", "last_name", "role", "organisation")
_PUBLIC = "petition-public-key-1:"
_SECRET = "petition-secret-key-1:"  # noqa: S105  # a file format's label, not a secret
_WRAPPED = "petition-wrapped-secret-key-1:"  # a label, not a secret


class SealError(Exception):
    """A box, a grant or a key file that cannot be used; the message says why, for people."""


def new_key_pair() -> tuple[bytes, bytes]:
    """(public, secret) of a new X25519 key pair, from the operating system's randomness."""
    secret = PrivateKey.generate()
    return bytes(secret.public_key), bytes(secret)


def public_of(secret: bytes) -> bytes:
    return bytes(PrivateKey(secret).public_key)


def seal(public_key: bytes, data: bytes) -> bytes:
    """A box only the holder of `public_key`'s secret half opens."""
    return VERSION + SealedBox(PublicKey(public_key)).encrypt(data)


def unseal(secret_key: bytes, box: bytes) -> bytes:
    if not box or box[:1] != VERSION:
        raise SealError("this box is of an unknown version (made by a newer petition?)")
    try:
        return SealedBox(PrivateKey(secret_key)).decrypt(box[1:])
    except CryptoError:
        raise SealError("this box does not open with this key (another key, or altered)") from None


def seal_fields(public_key: bytes, values: Mapping[str, str | None]) -> bytes:
    """The signer's fields as typed, in one box."""
    payload = {field: values.get(field) for field in FIELDS}
    return seal(public_key, json.dumps(payload, separators=(",", ":")).encode())


def unseal_fields(secret_key: bytes, box: bytes) -> dict[str, str | None]:
    try:
        payload = json.loads(unseal(secret_key, box))
    except ValueError:
        raise SealError("this box holds no signer's fields") from None
    if not isinstance(payload, dict):
        raise SealError("this box holds no signer's fields")
    return {field: _text_or_none(payload.get(field)) for field in FIELDS}


def new_data_key(reader_keys: list[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """A new data key's public half and its secret half sealed to each reader (a grant each).

    The secret half is dropped when this returns: nothing but the grants can give it back.
    """
    if not reader_keys:
        raise ValueError("a data key needs at least one reader")
    public, secret = new_key_pair()
    return public, {reader: seal(reader, secret) for reader in reader_keys}


def open_grant(reader_secret: bytes, grant: bytes) -> bytes:
    """The data key's secret half, from the grant sealed to this reader."""
    return unseal(reader_secret, grant)


def encode_public(public: bytes) -> str:
    return _PUBLIC + _b64(public)


def encode_secret(secret: bytes, passphrase: str | None = None) -> str:
    """A secret key file's text: clear (mode 0600, off the server) or under a passphrase."""
    if not passphrase:
        return _SECRET + _b64(secret)
    salt = utils.random(pwhash.argon2id.SALTBYTES)
    key = _derive(passphrase, salt)
    return _WRAPPED + _b64(salt + SecretBox(key).encrypt(secret))


def is_wrapped(text: str) -> bool:
    """Whether a secret key file's text is under a passphrase."""
    return text.strip().startswith(_WRAPPED)


def decode_public(text: str) -> bytes:
    text = text.strip()
    if not text.startswith(_PUBLIC):
        raise SealError("not a petition public key (it starts with 'petition-public-key-1:')")
    return _key_bytes(text[len(_PUBLIC) :])


def decode_secret(text: str, passphrase: str | None = None) -> bytes:
    text = text.strip()
    if text.startswith(_SECRET):
        return _key_bytes(text[len(_SECRET) :])
    if not text.startswith(_WRAPPED):
        raise SealError("not a petition secret key (it starts with 'petition-secret-key-1:')")
    if not passphrase:
        raise SealError("this secret key is under a passphrase: give it")
    raw = _unb64(text[len(_WRAPPED) :])
    salt, box = raw[: pwhash.argon2id.SALTBYTES], raw[pwhash.argon2id.SALTBYTES :]
    try:
        return SecretBox(_derive(passphrase, salt)).decrypt(box)
    except CryptoError:
        raise SealError("wrong passphrase for this secret key") from None


def fingerprint(public: bytes) -> str:
    """A short, readable name for a public key (its first bytes), to tell keys apart."""
    return base64.b32encode(public).decode()[:12]


def _derive(passphrase: str, salt: bytes) -> bytes:
    return pwhash.argon2id.kdf(
        SecretBox.KEY_SIZE,
        passphrase.encode(),
        salt,
        opslimit=pwhash.argon2id.OPSLIMIT_MODERATE,
        memlimit=pwhash.argon2id.MEMLIMIT_MODERATE,
    )


def _key_bytes(text: str) -> bytes:
    raw = _unb64(text)
    if len(raw) != PublicKey.SIZE:
        raise SealError("this key file is cut or altered (a key is 32 bytes)")
    return raw


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    # Spaces and line breaks are allowed: a recovery copy is printed in groups, and retyped.
    try:
        return base64.urlsafe_b64decode("".join(text.split()).encode())
    except ValueError:
        raise SealError("this key file is cut or altered") from None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
