"""What every `petition doctor` check shares: findings, options, and the kind of a host."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Literal
from urllib.parse import urlsplit

from petition.settings import Settings

Status = Literal["ok", "warn", "fail"]
HostKind = Literal["local", "private", "public"]
# Names that never reach the Internet (RFC 2606, RFC 6761, RFC 6762, RFC 8375).
_PRIVATE_SUFFIXES = (".local", ".test", ".example", ".invalid", ".internal", ".lan", ".home.arpa")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    what: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Options:
    offline: bool = False
    nameserver: tuple[str, int] | None = None  # (address, port); None: the system's resolver
    dkim_selector: str = ""
    timeout: float = 5.0  # seconds for each database, Redis, SMTP or DNS conversation


def ok(check: str, what: str) -> Finding:
    return Finding(check, "ok", what)


def warn(check: str, what: str, hint: str) -> Finding:
    return Finding(check, "warn", what, hint)


def fail(check: str, what: str, hint: str) -> Finding:
    return Finding(check, "fail", what, hint)


def host_kind(host: str) -> HostKind:
    """`local`: this machine; `private`: a closed network's name or address; else `public`."""
    name = host.strip("[]").rstrip(".").lower()
    address = _address(name)
    if address is not None:
        if address.is_loopback:
            return "local"
        return "public" if address.is_global else "private"
    if name == "localhost" or name.endswith(".localhost"):
        return "local"
    return "private" if "." not in name or name.endswith(_PRIVATE_SUFFIXES) else "public"


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def site_kind(settings: Settings) -> HostKind:
    return host_kind(urlsplit(settings.public_url).hostname or "")


def reason_of(exc: BaseException) -> str:
    """An exception's first line, short: what went wrong, never a value we were given."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
