"""Sources a user's owner has vouched for: "that was me".

`authwatch trust USER IP|CIDR|KEY` marks an address, a network or a key
fingerprint as known for a user (on every host, or one), optionally until a
time. A login from a trusted address or network is new in nothing derived
from its address (IP, network, ASN, country); one with a trusted key is not
`new_key`. History still records it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from authwatch.store import TrustRow

IP, KEY = "ip", "key"
_FINGERPRINT = re.compile(r"^(?:SHA256:[A-Za-z0-9+/]{43}|(?:MD5:)?[0-9a-f]{2}(?::[0-9a-f]{2}){15})$")


def parse_target(text: str) -> tuple[str, str]:
    """("ip", canonical network) or ("key", fingerprint); ValueError otherwise."""
    text = text.strip()
    if _FINGERPRINT.match(text):
        return KEY, text[4:] if text.startswith("MD5:") else text
    try:
        return IP, str(ipaddress.ip_network(text))
    except ValueError:
        if "/" in text:
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                pass
            else:  # 10.0.0.1/8: the address has bits set past the prefix; which was meant?
                raise ValueError(f"{text!r} has host bits set; did you mean {network}?") from None
        raise ValueError(
            f"{text!r} is not an IP address, a network such as 203.0.113.0/24 or 2001:db8::/48, "
            "or a key fingerprint such as SHA256:... (as sshd logs it)"
        ) from None


class Trusts:
    """The trust table in memory, by user."""

    def __init__(self, rows: Iterable[TrustRow]):
        self._by_user: dict[str, list[tuple[str, str, object, float | None]]] = {}
        for r in rows:
            value: object = ipaddress.ip_network(r.value) if r.kind == IP else r.value
            self._by_user.setdefault(r.user, []).append((r.host, r.kind, value, r.until))

    def covers(self, host: str | None, user: str, kind: str, value: str, at: float) -> bool:
        """Whether `value` (an address, or a key fingerprint) is trusted for
        `user` on `host` at Unix time `at`."""
        entries = self._by_user.get(user)
        if not entries:
            return False
        if kind == IP:
            try:
                addr = ipaddress.ip_address(value)
            except ValueError:
                return False
        else:
            value = value[4:] if value.startswith("MD5:") else value
        for t_host, t_kind, t_value, until in entries:
            if t_kind != kind or (t_host and t_host != host) or (until is not None and at >= until):
                continue
            if (addr in t_value) if kind == IP else t_value == value:  # type: ignore[operator]
                return True
        return False
