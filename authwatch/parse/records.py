"""The PAM hook's records (contrib/pam/authwatch-pam-hook) into events.

A record is one line: `aw1 ` and the base64 of NUL-terminated fields

    time            seconds.nanoseconds since 1970, when the hook ran
    PAM_SERVICE     sshd
    PAM_USER
    PAM_RHOST       the client's address (its name with sshd's UseDNS yes)
    PAM_TTY         "ssh" for every sshd session on Linux: says nothing of its type
    SSH_CONNECTION  client address and port, server address and port
    SSH_AUTH_INFO_0 the methods that succeeded, with the key (parse/authinfo.py)
    too long        the names of the fields the hook left out for their length

Every value is untrusted. The address and port are taken from
SSH_CONNECTION only (PAM_RHOST is kept as it is, in `record`): whatever a
value holds, it stays in its field. Each record becomes an event of kind
`record`, which the correlator folds into the log's login of the same
connection or turns into a login of its own. Pure: the host (the spool is
this machine's) and the time to use for a record without a readable one
are given.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from datetime import datetime, timezone

from authwatch.event import HOOK_IDENT, RECORD, Event, Record
from authwatch.parse import authinfo, timestamps
from authwatch.parse.sshd import canonical_ip
from authwatch.parse.perline import LineParser
from authwatch.parse.syslog import Stats

PREFIX = "aw1 "
FIELDS = 8
_TIME = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?", re.ASCII)
_PORT = re.compile(r"\d{1,5}", re.ASCII)
MAX_RECORD = 8192  # the hook writes at most 4 KB


class RecordParser(LineParser):
    def __init__(self, host: str | None, now: datetime, source: str | None = None):
        self.host = host
        self.now = now
        self.source = source
        self.stats = Stats()

    def parse(self, line: str, lineno: int = 1) -> Event | None:
        """One record (without its newline); None if it is not one."""
        if not line.startswith(PREFIX) or len(line) > MAX_RECORD:
            return None
        try:
            raw = b64decode(line[len(PREFIX) :].strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        fields = raw.decode("utf-8", "replace").split("\x00")
        if len(fields) != FIELDS + 1 or fields[-1]:
            return None
        stamp, service, user, rhost, tty, conn, info, too_long = fields[:FIELDS]
        time = _time(stamp) or self.now
        where = f"{self.source}:{lineno}" if self.source else f"record:{lineno}"
        ip, port = _client(conn)
        auth = authinfo.parse(info)
        return Event(
            RECORD, time, self.host, user or None, ip, port,
            auth.methods[-1] if auth.methods else None, auth.methods, auth.key, auth.key_type, auth.cert,
            detail=f"too long for a record, left out: {too_long}" if too_long else None,
            ident=HOOK_IDENT, source=where,
            record=Record(where, time, service or None, tty or None, rhost or None),
        )


def _time(stamp: str) -> datetime | None:
    m = _TIME.fullmatch(stamp)
    if m is None:
        return None
    nanos = (m.group(2) or "0").ljust(9, "0")
    try:
        t = datetime.fromtimestamp(int(m.group(1)), timezone.utc).replace(microsecond=int(nanos) // 1000)
    except (OverflowError, OSError, ValueError):
        return None
    return t if timestamps.plausible(t) else None


def _client(conn: str) -> tuple[str | None, int | None]:
    """The client's address and port from SSH_CONNECTION (`ip port ip port`)."""
    words = conn.split(" ")
    if len(words) != 4 or not _PORT.fullmatch(words[1]):
        return None, None
    ip = canonical_ip(words[0])
    port = int(words[1])
    return (ip, port) if ip is not None and port <= 65535 else (None, None)
