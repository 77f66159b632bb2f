"""The one event type that flows through every stage.

An `Event` is immutable. Later stages never mutate one; they return a copy made
with `event._replace(...)`. It is a NamedTuple rather than a frozen dataclass
because it is created once per parsed sshd line (hundreds of thousands per
second during replay) and a NamedTuple is four to five times cheaper to build.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, NamedTuple

# Kinds of event. The first five are what sshd logs about logins; the rest are
# helpers that the correlator folds into logins, and `forged` (journal only).
LOGIN = "login"  # Accepted ...
FAILURE = "failure"  # Failed <method> for ...
INVALID_USER = "invalid_user"  # Invalid user ...
LOGOUT = "logout"  # Disconnected from user ..., pam_unix session closed, sftp session closed
SESSION = "session"  # Starting session: ..., pam_unix session opened, sftp session opened
DISCONNECT = "disconnect"  # a connection that ended before authentication ([preauth])
PARTIAL = "partial"  # Partial <method> (first factor of a multi-factor login)
KEY_FOUND = "key_found"  # Accepted key ... found at FILE:LINE (VERBOSE)
FORGED = "forged"  # an auth result written by something that is not sshd

KINDS = (LOGIN, FAILURE, INVALID_USER, LOGOUT, SESSION, DISCONNECT, PARTIAL, KEY_FOUND, FORGED)

# Session types, as the JSON schema names them.
SHELL, EXEC, SFTP, UNKNOWN = "shell", "exec", "sftp", "unknown"


class Cert(NamedTuple):
    """An OpenSSH certificate used to log in."""

    id: str
    serial: int
    ca_key_type: str
    ca_key: str


class Forged(NamedTuple):
    """Who really wrote a line that claims to be sshd's (journal fields the
    sender cannot set), and what the line claimed."""

    uid: int | None  # _UID
    pid: int | None  # _PID
    comm: str | None  # _COMM
    exe: str | None  # _EXE
    claimed_ident: str | None  # SYSLOG_IDENTIFIER
    claimed_pid: int | None  # SYSLOG_PID
    claimed_kind: str  # what the line would have been: login, failure, ...


class Event(NamedTuple):
    kind: str
    time: datetime  # aware; sub-second precision and the logged offset are kept
    host: str | None = None
    user: str | None = None
    ip: str | None = None
    port: int | None = None
    method: str | None = None  # the method that completed the login (or failed)
    methods: tuple[str, ...] = ()  # every method used, in order (multi-factor)
    key: str | None = None  # "SHA256:..." (or an MD5 fingerprint on old sshd)
    key_type: str | None = None  # "ED25519", "RSA-CERT", ...
    cert: Cert | None = None
    key_location: str | None = None  # "FILE:LINE" from "Accepted key ... found at"
    session: str | None = None  # shell / exec / sftp / unknown
    tty: str | None = None
    detail: str | None = None  # what else sshd said: forced command, subsystem, reason
    invalid_user: bool = False  # sshd said the account does not exist
    preauth: bool = False  # logged before authentication completed
    ident: str | None = None  # sshd, sshd-session, internal-sftp, sftp-server
    pid: int | None = None
    source: str | None = None  # "path:line" for files
    forged: Forged | None = None  # for kind "forged": the real sender


def event_id(event: Event) -> str:
    """A stable identity: the same logged event always gets the same id.

    Used as the outbox key, so that re-reading a line after a crash finds the
    alert already queued instead of queueing it twice.
    """
    parts = (
        event.kind,
        event.host or "",
        event.time.isoformat(),
        event.user or "",
        event.ip or "",
        str(event.port or ""),
        event.method or "",
        str(event.pid or ""),
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def to_json(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict, as described by docs/event.schema.json."""
    d = event._asdict()
    d["time"] = event.time.isoformat()
    d["methods"] = list(event.methods)
    d["cert"] = event.cert._asdict() if event.cert else None
    d["forged"] = event.forged._asdict() if event.forged else None
    return d


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)
