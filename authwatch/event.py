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
# Reported by a login hook rather than the log (parse/records.py). The
# correlator folds a record into the log's login of the same connection, or
# makes it a login of its own when the log reports none (correlate.py).
RECORD = "record"  # a PAM hook record: a session was opened
DUPLICATE = "duplicate"  # a logged login the hook's record had already reported (arrived too late to join)
HOOK_IDENT = "pam_exec"  # the `ident` of records, and of logins the hook alone reported
PROFILE_IDENT = "profile"  # the `ident` of logins read from ~/.ssh_logins (parse/sshlogins.py)
# Made by the rules, not parsed: many events summed up in one message.
SUMMARY = "summary"  # a `summarize` rule's window: counts per address and user
DIGEST = "digest"  # alerts deferred (quiet hours, `digest` rules), sent as one

# Session types, as the JSON schema names them.
SHELL, EXEC, SFTP, UNKNOWN = "shell", "exec", "sftp", "unknown"


class Cert(NamedTuple):
    """An OpenSSH certificate used to log in."""

    id: str
    serial: int
    ca_key_type: str
    ca_key: str


class Geo(NamedTuple):
    """Where an address is, from local GeoIP databases (enrich/geoip.py)."""

    scope: str  # public, private, loopback, link-local, cgnat, reserved
    country_code: str | None = None  # ISO 3166-1 alpha-2
    country: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_km: int | None = None  # the database's accuracy radius, when it gives one
    asn: int | None = None
    as_org: str | None = None
    attribution: str | None = None  # the credit the database's licence asks for (DB-IP: CC BY 4.0)


class Spot(NamedTuple):
    """One end of a journey between two logins."""

    ip: str
    place: str  # "Paris, France"
    time: datetime
    lat: float
    lon: float


class Travel(NamedTuple):
    """Two consecutive logins of one user too far apart for the time between them."""

    start: Spot  # "from" in JSON
    end: Spot  # "to" in JSON
    km: int  # distance minus both accuracy radii
    kmh: int  # that distance over the time between the logins


class Summary(NamedTuple):
    """What a `summarize` rule counted in one window (event kind `summary`)."""

    start: datetime  # the first event of the window
    end: datetime  # when the window closed
    total: int  # events counted
    kinds: tuple[tuple[str, int], ...]  # (kind, count), most first
    ips: tuple[tuple[str, int], ...]  # (address, count), most first; at most TOP shown
    users: tuple[tuple[str, int], ...]
    hosts: tuple[tuple[str, int], ...]
    ip_count: int  # distinct addresses (ips holds the top ones)
    user_count: int


class Deferred(NamedTuple):
    """One alert held for a digest, as the digest lists it."""

    id: str  # the alert it would have been
    time: datetime
    severity: str
    rule: str | None
    kind: str
    host: str | None
    user: str | None
    ip: str | None
    country_code: str | None
    why: str  # the first reason, or the rule's name


class Digest(NamedTuple):
    """Alerts deferred by quiet hours or `digest` rules (event kind `digest`)."""

    start: datetime  # the first deferred alert
    end: datetime  # when it was sent
    alerts: tuple[Deferred, ...]  # in time order, at most DIGEST_SHOWN
    total: int  # alerts deferred (more than listed when very many)


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


class Record(NamedTuple):
    """What the PAM hook wrote about a login (parse/records.py)."""

    source: str  # "spool:line"
    time: datetime  # when the hook ran (the session opened)
    service: str | None  # PAM_SERVICE
    tty: str | None  # PAM_TTY: "ssh" for every sshd session on Linux, so it tells nothing of the session type
    rhost: str | None  # PAM_RHOST: the client's address, or its name when sshd has UseDNS yes


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
    # Enrichment (logins only; see authwatch/enrich/). Parsers leave the defaults.
    geo: Geo | None = None
    novelty: tuple[str, ...] = ()  # first_login, learning, new_ip, new_network, new_asn, new_country, new_key
    impossible_travel: bool = False
    travel: Travel | None = None
    after_failures: int = 0  # failed attempts from this IP or for this user in the window before
    key_name: str | None = None  # the key's comment in authorized_keys
    # Made by the rules (authwatch/rules/): kind `summary` and `digest` only.
    summary: Summary | None = None
    digest: Digest | None = None
    # The PAM hook's record of this login (kind login, record): see Record.
    record: Record | None = None


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
    d["geo"] = event.geo._asdict() if event.geo else None
    d["novelty"] = list(event.novelty)
    d["travel"] = _travel_json(event.travel) if event.travel else None
    d["summary"] = _summary_json(event.summary) if event.summary else None
    d["digest"] = _digest_json(event.digest) if event.digest else None
    d["record"] = _record_json(event.record) if event.record else None
    return d


def _record_json(r: Record) -> dict[str, Any]:
    d = r._asdict()
    d["time"] = r.time.isoformat()
    return d


def _summary_json(s: Summary) -> dict[str, Any]:
    d = s._asdict()
    d["start"], d["end"] = s.start.isoformat(), s.end.isoformat()
    for key in ("kinds", "ips", "users", "hosts"):
        d[key] = [list(pair) for pair in d[key]]
    return d


def _digest_json(g: Digest) -> dict[str, Any]:
    return {"start": g.start.isoformat(), "end": g.end.isoformat(), "alerts": [deferred_json(a) for a in g.alerts],
            "total": g.total}


def deferred_json(d: Deferred) -> dict[str, Any]:
    item = d._asdict()
    item["time"] = d.time.isoformat()
    return item


def _travel_json(t: Travel) -> dict[str, Any]:
    def spot(s: Spot) -> dict[str, Any]:
        return {"ip": s.ip, "place": s.place, "time": s.time.isoformat(), "lat": s.lat, "lon": s.lon}

    return {"from": spot(t.start), "to": spot(t.end), "km": t.km, "kmh": t.kmh}


def seen_by(ident: str | None) -> str:
    """Who reported a login that carries the PAM hook's record."""
    return "the PAM hook only (no log line)" if ident == HOOK_IDENT else "the SSH log and the PAM hook"


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)
