"""The syslog parser's fast path (one regex for the lines a brute-forced host
logs most) gives exactly what the general path gives."""

import re
from datetime import datetime, timezone

from authwatch.parse import syslog
from authwatch.parse.sshd import parse_message
from tests.conftest import FIXTURES

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=timezone.utc)
EXTRA = [
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Failed gssapi-with-mic for alice from 1.2.3.4 port 5 ssh2",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Failed gssapi-with-mic for alice from 1.2.3.4 port 5 ssh2: a@B",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Connection closed by 1.2.3.4 port 5",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Connection from 1.2.3.4 port 5 on 10.0.0.1 port 22 rdomain \"\"",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Disconnecting invalid user a 1.2.3.4 port 5: Too many [preauth]",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Invalid user a from 999.2.3.4 port 5",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Invalid user a from ::ffff:1.2.3.4 port 5",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: pam_unix(sshd:auth): check pass; user unknown",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: pam_unix(sshd:auth): x :session): session opened for user a",
    "Nov 22 15:04:05 web1 sshd[9]: Failed password for invalid user admin from 1.2.3.4 port 5 ssh2",
    # gssapi's principal is free text, not a key, in either path
    "Nov 22 15:04:05 web1 sshd[9]: Failed gssapi-with-mic for invalid user a from 1.2.3.4 port 5 ssh2: "
    "RSA SHA256:Ks3XiiXSzhf5Xd9PrJDdqrS6V8bb7Nl+sQXRwkRfdkI",
    "Nov 22 15:04:05 web1 sshd[9]: Failed gssapi-with-mic for invalid user a from 1.2.3.4 port 5 ssh2: x from ::1 port 2 "
    "ssh2: RSA SHA256:Ks3XiiXSzhf5Xd9PrJDdqrS6V8bb7Nl+sQXRwkRfdkI ID y (serial 1) CA RSA (null)",
    # an invalid name and a certificate ID that read in two ways, and in one
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Failed publickey for invalid user a from 1.2.3.4 port 5 ssh2: RSA-CERT "
    "(null) ID x from 6.6.6.6 port 22 ssh2: RSA (null) ID y (serial 1) CA RSA (null)",
    "2026-11-22T15:04:05.1+00:00 web1 sshd[9]: Failed publickey for invalid user a from 1.2.3.4 port 5 ssh2: RSA-CERT "
    "(null) ID x from 6.6.6.6 port 22 ssh2 (serial 1) CA RSA (null)",
    "Nov 22 15:04:05 web1 sshd[9]: Disconnected from authenticating user root 1.2.3.4 port 5 [preauth]",
    "Nov 22 15:04:05.123456 web1 sshd[9]: Accepted password for alice from 1.2.3.4 port 5 ssh2",
    "Nov 22 15:04:05.1 web1 sshd[9]: Failed password for invalid user admin from 1.2.3.4 port 5 ssh2",
    "Nov 22 15:04:05.123456789 web1 sshd[9]: Connection closed by 1.2.3.4 port 5 [preauth]",
]


def general_path(parser: syslog.Parser, line: str):
    """The same line through the tokenising path and parse_message."""
    m = re.match(r"(\S+) (\S+) (\S+)\[(\d+)\]: (.*)", line) or re.match(
        r"(\w{3} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?) (\S+) (\S+)\[(\d+)\]: (.*)", line
    )
    stamp, host, ident, pid, msg = m.groups()
    time = parser._general(f"{stamp} {host} {ident}[{pid}]: Accepted none for t from 1.1.1.1 port 1 ssh2", 1).time
    return parse_message(msg, ident, int(pid), host, time, "x:1")


def test_fast_and_general_paths_agree():
    lines = list(EXTRA)
    for name in ("openssh-9.2-rfc3339.log", "openssh-9.2-classic.log", "openssh-10-rfc3339.log", "injection.log"):
        lines += (FIXTURES / name).read_bytes().decode("utf-8", "replace").splitlines()
    parser = syslog.Parser(NOW, timezone.utc, "x")
    fast = 0
    for line in lines:
        if (syslog._FAST_ISO.match(line) or syslog._FAST_CLASSIC.match(line)) is None:
            continue
        fast += 1
        assert parser.parse(line, 1) == general_path(parser, line), line
    assert fast > 100  # the fast path was really exercised
