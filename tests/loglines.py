"""sshd log lines as rsyslog writes them (RFC 3339), for tests that need
logins from chosen places at chosen times."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 11, 2, 9, 0, 0, tzinfo=timezone.utc)


def fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def at(hours: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, days=days)


def line(t: datetime, message: str, host: str = "web1", pid: int = 4242) -> str:
    return f"{t.isoformat(timespec='microseconds')} {host} sshd[{pid}]: {message}\n"


def accepted(t: datetime, user: str, ip: str, port: int = 50000, key: str | None = None, host: str = "web1",
             pid: int = 4242) -> str:
    if key:
        return line(t, f"Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 {key}", host, pid)
    return line(t, f"Accepted password for {user} from {ip} port {port} ssh2", host, pid)


def failed(t: datetime, user: str, ip: str, port: int = 40000, invalid: bool = False, host: str = "web1") -> str:
    who = f"invalid user {user}" if invalid else user
    return line(t, f"Failed password for {who} from {ip} port {port} ssh2", host, 4000)
