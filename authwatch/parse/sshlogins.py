"""Lines of `~/.ssh_logins`, the file the profile hook appends to, into login events.

The format is the one people's profile hooks already write, so an existing
file keeps its meaning (extra words are ignored by the tools that read it):

    2026-04-13 16:46:59 +0100 1.2.3.4 alice publickey
    2026-11-22 16:05:59 +0000 127.0.0.1 alice publickey port=53858 key=ssh-ed25519:AAAAC3Nz...

DATE TIME ZONE IP USER METHOD (ZONE an offset, `+0100`, as `date +%z`
writes it, or a name, `CET`, as `date +%Z` does: UTC and GMT are UTC, other
names the configured zone's; or left out), then what authwatch's own hook adds: the
client port, and the key of a publickey login (with `ExposeAuthInfo yes`),
from which the fingerprint sshd would log is computed. METHOD is `unknown`
when sshd does not expose it, and methods of a multi-factor login are joined
by `+`. A login shell reads the profile, so these are shell sessions. Pure:
the host (the file is this machine's) and the zone of a line without one
are given.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

from authwatch.event import LOGIN, PROFILE_IDENT, SHELL, Event
from authwatch.parse import authinfo, timestamps
from authwatch.parse.sshd import canonical_ip
from authwatch.parse.perline import LineParser
from authwatch.parse.syslog import Stats

_HEAD = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?: ([+-]\d{4}|[A-Z]{1,5}))? +(\S+) +(.*)", re.ASCII)
_UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UT"})
_PORT = re.compile(r"port=(\d{1,5})", re.ASCII)
_KEY = re.compile(r"key=([A-Za-z0-9@.-]+):([A-Za-z0-9+/=]+)", re.ASCII)
_METHOD = re.compile(r"[a-z][a-z0-9@./+-]{0,255}", re.ASCII)
MAX_LINE = 8192


def looks_like(first_block: str) -> bool:
    """Whether a file beginning with `first_block` is a ~/.ssh_logins."""
    return _HEAD.fullmatch(first_block.split("\n", 1)[0].strip()) is not None


class LoginsParser(LineParser):
    def __init__(self, host: str | None, tz: tzinfo, source: str | None = None):
        self.host = host
        self.tz = tz
        self.source = source
        self.stats = Stats()

    def parse(self, line: str, lineno: int = 1) -> Event | None:
        m = _HEAD.fullmatch(line.strip()) if len(line) <= MAX_LINE else None
        if m is None:
            return None
        day, clock, zone, ip, rest = m.groups()
        try:
            if zone and zone[0] in "+-":
                time = datetime.strptime(f"{day} {clock} {zone}", "%Y-%m-%d %H:%M:%S %z")
            else:  # no zone, or its name (`date +%Z`): UTC, else the configured zone's
                time = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S").replace(
                    tzinfo=timezone.utc if zone in _UTC_NAMES else self.tz)
        except ValueError:
            return None
        if not timestamps.plausible(time):
            return None
        words = rest.split()
        port = found = None
        while len(words) > 2 and (_PORT.fullmatch(words[-1]) or _KEY.fullmatch(words[-1])):
            word = words.pop()
            if word.startswith("port="):
                port = int(word[5:]) if int(word[5:]) <= 65535 else None
            else:
                k = _KEY.fullmatch(word)
                found = authinfo.key(k.group(1), k.group(2))  # type: ignore[union-attr]
        if not words:
            return None
        method_word = words.pop() if len(words) > 1 else "unknown"
        methods = tuple(method_word.split("+")) if _METHOD.fullmatch(method_word) and method_word != "unknown" else ()
        return Event(
            LOGIN, time, self.host, " ".join(words), canonical_ip(ip), port,
            methods[-1] if methods else None, methods,
            found.fingerprint if found else None, found.key_type if found else None, found.cert if found else None,
            session=SHELL, ident=PROFILE_IDENT, source=f"{self.source}:{lineno}" if self.source else f"line:{lineno}",
        )
