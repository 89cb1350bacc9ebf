"""Which address a request comes from: the peer, or what a trusted reverse proxy says it is.

X-Forwarded-For is read only when the peer is one of the configured proxies, from the right:
the first address that is not itself a trusted proxy is the client. Anyone else can write
anything in that header, so it is ignored for them.
"""

from __future__ import annotations

import functools
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]
) -> str:
    """The client's address as a string; `unknown` when there is none (tests, sockets)."""
    if not peer:
        return UNKNOWN
    if not proxies or not forwarded_for or not _trusted(peer, proxies):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        parsed = _parse(hop)
        if parsed is None:
            return peer  # a malformed chain is not believed at all
        if not any(parsed in network for network in proxies):
            return str(parsed)
    return peer


@functools.cache
def networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks (a bare address is a network of one), parsed once
    per distinct setting rather than at every request; ValueError if one is malformed."""
    return tuple(ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


@functools.lru_cache(maxsize=64)  # the peer is nearly always one of a few proxies
def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in proxies)


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None
