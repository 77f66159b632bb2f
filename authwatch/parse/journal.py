"""systemd journal entries (`journalctl -o json`) turned into events, with
forged sshd lines told apart from real ones.

In a text log any local user can write a line that looks exactly like sshd's
(`logger -t 'sshd[1]' 'Accepted password for root ...'`). The journal records
who really sent each entry in fields the sender cannot set: `_UID`, `_PID`
(from the kernel) and `_COMM`/`_EXE` (from /proc). Authentication results —
Accepted, Failed, Invalid user, Partial, pre-authentication ends and the PAM
session lines — are written only by sshd's root monitor, so such an entry is
trusted only when `_UID` is 0, `SYSLOG_PID` equals `_PID`, and `_EXE`, when
present, is an sshd binary. Otherwise it becomes a `forged` event naming the
real sender. Lines that sshd's per-user child writes (Starting session,
Disconnected from user, the SFTP server's) carry the user's UID by design and
are not judged. A missing `_COMM`/`_EXE` is normal for a process that already
exited and is no evidence either way.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone, tzinfo

from authwatch import event as ev
from authwatch.event import Event, Forged
from authwatch.parse import timestamps
from authwatch.parse.sshd import UNKNOWN, parse_message
from authwatch.parse.syslog import MALFORMED, OTHER, Stats

IDENTS = frozenset(("sshd", "sshd-session", "internal-sftp", "sftp-server"))
SSHD_BINARIES = frozenset(("sshd", "sshd-session", "sshd-auth"))
# Kinds only sshd's root monitor logs (see the module docstring).
_MONITOR_KINDS = frozenset((ev.LOGIN, ev.FAILURE, ev.INVALID_USER, ev.PARTIAL, ev.KEY_FOUND, ev.DISCONNECT))
_UTC = timezone.utc


def looks_like_journal(first_line: str) -> bool:
    """Whether a file's first non-empty line is a `journalctl -o json` entry."""
    return first_line.lstrip().startswith("{")


class JournalParser:
    """The journal's counterpart of syslog.Parser: same interface, same Stats."""

    def __init__(self, tz: tzinfo, source: str | None = None):
        self.tz = tz
        self.source = source
        self.stats = Stats()

    def parse_block(self, text: str, first_lineno: int) -> list[Event]:
        """Parse JSON lines, one entry each, counting outcomes in `self.stats`."""
        stats = self.stats
        out = []
        lines = text.split("\n")
        for offset, line in enumerate(lines):
            lineno = first_lineno + offset
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            r = self.parse_entry(entry, f"{self.source}:{lineno}") if isinstance(entry, dict) else MALFORMED
            if r.__class__ is Event:
                out.append(r)
            else:
                message = _text(entry.get("MESSAGE")) if r is UNKNOWN else ""
                stats.record(r, f"{self.source}:{lineno}", message)
        stats.lines += len(lines)
        stats.events += len(out)
        return out

    def parse_entry(self, entry: dict, source: str | None) -> Event | str:
        """One journal entry to an Event (a `forged` one if its sender is not
        sshd), or NOISE, UNKNOWN, OTHER (not sshd's), MALFORMED."""
        ident = _text(entry.get("SYSLOG_IDENTIFIER"))
        comm = _text(entry.get("_COMM"))
        if ident not in IDENTS and comm not in IDENTS:
            return OTHER
        message = entry.get("MESSAGE")
        if message is None:  # journalctl gives null for values over 4096 bytes unless --all
            return MALFORMED
        try:
            micros = int(_text(entry.get("__REALTIME_TIMESTAMP")))
            time = datetime.fromtimestamp(micros / 1_000_000, _UTC).astimezone(self.tz)
        except (ValueError, OverflowError, OSError):
            return MALFORMED
        if not timestamps.plausible(time):
            return MALFORMED
        claimed_pid = _int(entry.get("SYSLOG_PID"))
        pid = _int(entry.get("_PID"))
        r = parse_message(
            _text(message).rstrip("\n"), ident if ident in IDENTS else comm, claimed_pid or pid,
            _text(entry.get("_HOSTNAME")) or None, time, source,
        )
        if r.__class__ is not Event or not _monitor_only(r):
            return r
        uid = _int(entry.get("_UID"))
        exe = _text(entry.get("_EXE")) or None
        if uid == 0 and claimed_pid is not None and claimed_pid == pid and (exe is None or _is_sshd(exe)):
            return r
        forged = Forged(uid, pid, comm or None, exe, ident or None, claimed_pid, r.kind)
        return r._replace(kind=ev.FORGED, forged=forged)


def _monitor_only(e: Event) -> bool:
    return e.kind in _MONITOR_KINDS or e.detail == "pam_unix"


def _is_sshd(exe: str) -> bool:
    if exe.endswith(" (deleted)"):  # the binary was replaced by an upgrade while sshd ran
        exe = exe[: -len(" (deleted)")]
    return exe.startswith("/") and exe.rsplit("/", 1)[-1] in SSHD_BINARIES


def _text(value) -> str:
    """A journal field as text: journalctl writes non-UTF-8 values as arrays
    of byte values, and repeated fields as arrays of values."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value if value.isascii() else _no_surrogates(value)
    if isinstance(value, list) and value:
        if all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", "replace")
        return _text(value[0])
    return str(value)


def _no_surrogates(text: str) -> str:
    """`text` with each lone surrogate (JSON allows `\\ud800`; no output,
    store or message can encode it) written as the text `\\ud800`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _int(value) -> int | None:
    """A decimal field (pid, uid) as a number; None if it is none (or longer
    than any pid or uid: int() refuses over 4,300 digits)."""
    text = _text(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None
