"""What mail providers ignore in their addresses, as they document it: one mailbox, one key.

Duplicate detection (petition.tokens.email_hash) hashes the mailbox an address reaches, not
the string typed: `jeanne.dupont+hdh@gmail.com` and `jeannedupont@gmail.com` are one Gmail
mailbox, hence one signer. Only what a provider documents is listed; a domain that is not
listed, or listed without a rule, keeps its address exactly as typed (hyphens at Yahoo, which
are its disposable addresses, and the French ISPs, which document no subaddressing). Getting a
rule wrong would merge two people, so nothing goes in by guess.

Case: `tokens.normalise_email` has lowered every address, of every provider, since the first
release, and every stored hash depends on it, so it stays so. `folds_case` below is therefore
documentation only; what the list changes is the subaddress tag, ignored characters and
domains that are the same mailboxes as another.

Mail still goes to the address as typed: only the key that is hashed changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Provider:
    """What one provider ignores in the addresses of one of its domains."""

    name: str
    # Where the provider says so.
    source: str
    # The separator of a subaddress tag (`name+tag@`): what follows it is ignored. "" if none.
    tag: str = ""
    # Characters of the local part that make no difference (Gmail's dots).
    ignored: str = ""
    # Whether the provider documents that case makes no difference; documentation only (above).
    folds_case: bool | None = None
    # The domain whose mailboxes these are (googlemail.com: gmail.com). "" for its own.
    same_as: str = ""


_GMAIL = Provider(
    "Gmail",
    "https://support.google.com/mail/answer/7436150 (dots); "
    "https://support.google.com/mail/answer/12096745 (+ addresses); "
    "gmail.com and googlemail.com are the same accounts (Gmail Help)",
    tag="+",
    ignored=".",
    folds_case=True,
)
_OUTLOOK = Provider(
    "Outlook.com",
    "https://learn.microsoft.com/exchange/recipients-in-exchange-online/"
    "plus-addressing-in-exchange-online (Outlook.com has had plus addresses since 2013)",
    tag="+",
)
_ICLOUD = Provider(
    "iCloud Mail",
    "+ addresses: iCloud Mail delivers them, widely reported; no Apple page found stating it. "
    "me.com and mac.com are not folded into icloud.com: https://support.apple.com/118230 says "
    "older accounts have them, not that every icloud.com mailbox does",
    tag="+",
)
_FASTMAIL = Provider(
    "Fastmail", "https://www.fastmail.help/hc/en-us/articles/360060591053", tag="+"
)
_PROTON = Provider(
    "Proton Mail",
    "https://proton.me/support/addresses-and-aliases (+aliases); "
    "https://proton.me/support/change-username ('.', '_' and '-' are transparent, "
    "addresses are not case-sensitive)",
    tag="+",
    ignored="._-",
    folds_case=True,
)
_YAHOO = Provider(
    "Yahoo Mail",
    "'-' introduces Yahoo's disposable addresses, which are separate addresses; no + addresses",
)
_FRENCH_ISP = Provider("French ISP", "no documented subaddressing: addresses kept as typed")

PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        "gmail.com": _GMAIL,
        "googlemail.com": replace(_GMAIL, same_as="gmail.com"),
        "outlook.com": _OUTLOOK,
        "hotmail.com": _OUTLOOK,
        "live.com": _OUTLOOK,
        "msn.com": _OUTLOOK,
        "icloud.com": _ICLOUD,
        "me.com": _ICLOUD,
        "mac.com": _ICLOUD,
        "fastmail.com": _FASTMAIL,
        "fastmail.fm": _FASTMAIL,
        "proton.me": _PROTON,
        "protonmail.com": _PROTON,
        "protonmail.ch": _PROTON,
        "pm.me": _PROTON,
        "yahoo.com": _YAHOO,
        "laposte.net": _FRENCH_ISP,
        "orange.fr": _FRENCH_ISP,
        "free.fr": _FRENCH_ISP,
        "sfr.fr": _FRENCH_ISP,
    }
)


@dataclass(frozen=True, slots=True)
class _Folding:
    tag: str
    dropped: Mapping[int, None]  # a str.translate table deleting the ignored characters
    domain: str


# Built once from the list above: on the signing path a key costs one dict lookup, and only
# addresses at a folding provider go further.
_FOLDING: Mapping[str, _Folding] = MappingProxyType(
    {
        domain: _Folding(p.tag, dict.fromkeys(map(ord, p.ignored)), p.same_as or domain)
        for domain, p in PROVIDERS.items()
        if p.tag or p.ignored or p.same_as
    }
)


def canonical(address: str) -> str:
    """The mailbox a normalised address (trimmed, NFC, lower case) reaches, by the rules of
    its provider; any other address as it is."""
    local, _at, domain = address.rpartition("@")
    folding = _FOLDING.get(domain)
    if folding is None and not domain.isascii():
        folding = _FOLDING.get(_idna(domain))
    if folding is None or not local:
        return address
    if folding.tag:
        local = local.partition(folding.tag)[0] or local
    local = local.translate(folding.dropped)
    return f"{local}@{folding.domain}" if local else address


def _idna(domain: str) -> str:
    # A listed domain spelt with look-alike characters (full-width letters, say) reaches the
    # same provider once IDNA-mapped; any other non-ASCII domain maps to no listed one.
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain
