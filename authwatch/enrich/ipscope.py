"""What kind of address an IP is, and the network it belongs to.

Only public addresses are looked up in a GeoIP database; the others are
labelled for what they are. The network is what history folds addresses
into: a /24 for IPv4 and a /64 for IPv6 (one subscriber line, usually).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

PUBLIC = "public"
PRIVATE = "private"  # RFC 1918, IPv6 unique local (fc00::/7)
LOOPBACK = "loopback"
LINK_LOCAL = "link-local"
CGNAT = "cgnat"  # 100.64.0.0/10, carrier-grade NAT (RFC 6598)
RESERVED = "reserved"  # documentation, benchmarking, multicast, unspecified, ...

SCOPES = (PUBLIC, PRIVATE, LOOPBACK, LINK_LOCAL, CGNAT, RESERVED)

_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@lru_cache(maxsize=65536)
def scope(ip: str) -> str:
    """The scope of a canonical address (as the parser gives it)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return RESERVED
    if addr.is_loopback:
        return LOOPBACK
    if addr.is_link_local:
        return LINK_LOCAL
    if addr.version == 4 and addr in _CGNAT:
        return CGNAT
    if any(addr in net for net in _PRIVATE if net.version == addr.version):
        return PRIVATE
    return PUBLIC if addr.is_global else RESERVED


@lru_cache(maxsize=65536)
def network(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) that holds `ip`, as a CIDR string."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 64}", strict=False))
