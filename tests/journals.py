"""Real journal files made for tests and benchmarks, without root and without
a running journald: systemd-journal-remote (Debian package
systemd-journal-remote) writes the entries given, in the journal export
format, into a journal file, appending if it exists; journalctl reads it back
with `-D DIR` as it reads any journal.

An entry is a dict of fields as `journalctl -o json` shows them; the
address fields journalctl adds (`__CURSOR`, ...) are left out, except
`__REALTIME_TIMESTAMP` and `__MONOTONIC_TIMESTAMP`, which the file keeps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT_ID = "8796054d90ac440395e08470cff8bb73"
HOST = "web1"


def missing() -> str | None:
    """Why journals cannot be made here, or None."""
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        return f"missing: {JOURNAL_REMOTE} (apt-get install systemd-journal-remote)"
    if shutil.which("journalctl") is None:
        return "missing: journalctl (apt-get install systemd)"
    return None


def need() -> None:
    """Skip (fail in CI) where journals cannot be made."""
    from tests.e2e.conftest import unavailable

    why = missing()
    if why:
        unavailable(why)


def export(entries: Iterable[dict]) -> bytes:
    """The journal export format (binary-safe field encoding)."""
    out = bytearray()
    for entry in entries:
        for name, value in entry.items():
            if name.startswith("__") and name not in ("__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP"):
                continue
            data = bytes(value) if isinstance(value, list) else str(value).encode()
            if name.startswith("__"):
                out += f"{name}={value}\n".encode()
            else:
                out += name.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
        out += b"\n"
    return bytes(out)


def write(directory: Path, entries: Iterable[dict], name: str = "system") -> Path:
    """Append `entries` to DIRECTORY/NAME.journal (made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.journal"
    subprocess.run([JOURNAL_REMOTE, "-o", str(path), "-"], input=export(entries), check=True,
                   capture_output=True, timeout=120)
    return path


def sshd(message: str, micros: int, pid: int = 8136, uid: int = 0, ident: str = "sshd", comm: str | None = "sshd",
         exe: str | None = "/usr/sbin/sshd", claimed_pid: int | None = None, host: str = HOST) -> dict:
    """An entry as journald stores a line sshd sent to /dev/log (or, with
    other uid/comm/exe/claimed_pid, a line something else sent claiming to be
    sshd's)."""
    entry = {
        "__REALTIME_TIMESTAMP": micros, "__MONOTONIC_TIMESTAMP": micros % 10**12, "_BOOT_ID": BOOT_ID,
        "_HOSTNAME": host, "_TRANSPORT": "syslog", "PRIORITY": "6", "SYSLOG_FACILITY": "4",
        "SYSLOG_IDENTIFIER": ident, "SYSLOG_PID": str(pid if claimed_pid is None else claimed_pid),
        "_PID": str(pid), "_UID": str(uid), "_GID": str(uid), "MESSAGE": message,
    }
    if comm is not None:
        entry["_COMM"] = comm
    if exe is not None:
        entry["_EXE"] = exe
    return entry


def other(message: str, micros: int, ident: str = "cron", pid: int = 999) -> dict:
    return {"__REALTIME_TIMESTAMP": micros, "__MONOTONIC_TIMESTAMP": micros % 10**12, "_BOOT_ID": BOOT_ID,
            "_HOSTNAME": HOST, "SYSLOG_IDENTIFIER": ident, "SYSLOG_PID": str(pid), "_PID": str(pid), "_UID": "0",
            "_COMM": ident, "MESSAGE": message}


def from_export(path: Path) -> list[dict]:
    """The entries of a `journalctl -o json` file (tests/fixtures/*-journal.json)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
