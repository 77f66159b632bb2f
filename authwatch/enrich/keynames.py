"""Naming a login's key: the comment of its line in `authorized_keys`.

The file is the one sshd named (`Accepted key ... found at FILE:LINE`, logged
at LogLevel VERBOSE), else the user's `~/.ssh/authorized_keys` and
`authorized_keys2` when authwatch may read them. A name is given only for a
line whose key has the login's fingerprint, so a forged log line that points
at another file can never make authwatch show a line of it; only regular
files up to 1 MiB are read, without following a FIFO or a device. Files are
parsed once and reread when they change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import pwd
import re
import stat
import time

MAX_FILE = 1 << 20
MAX_NAME = 100
_KEY_TYPE = re.compile(r"^(?:ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+$")
_HOME_TTL_S = 300.0


def fingerprints(blob: bytes) -> tuple[str, str]:
    """The SHA256 and MD5 fingerprints of a key, as sshd logs them."""
    sha = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    md5 = ":".join(f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest())
    return sha, md5


def parse_line(line: str) -> tuple[bytes, str] | None:
    """(key blob, comment) of one authorized_keys line, or None."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    rest = line
    if not _KEY_TYPE.match(line.split(None, 1)[0]):
        rest = _skip_options(line)
    parts = rest.split(None, 2)
    if len(parts) < 2 or not _KEY_TYPE.match(parts[0]):
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    return blob, (parts[2].strip() if len(parts) > 2 else "")


def _skip_options(line: str) -> str:
    """The line after its options field (which may hold quoted spaces)."""
    quoted = False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif c in " \t" and not quoted:
            return line[i + 1 :].lstrip()
    return ""


def _read(path: str) -> tuple[tuple, str] | None:
    """(identity, text) of a regular file of at most MAX_FILE bytes, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
            return None
        data = os.read(fd, MAX_FILE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size), data.decode("utf-8", "replace")


class KeyNames:
    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple, dict[str, str]]] = {}  # path -> (identity, fingerprint -> name)
        self._homes: dict[str, tuple[float, str | None]] = {}  # user -> (when looked up, home)

    def name(self, user: str | None, fingerprint: str, location: str | None) -> str | None:
        if fingerprint.startswith("MD5:"):
            fingerprint = fingerprint[4:]
        paths = []
        if location:
            path, _, line = location.rpartition(":")
            if path and line.isdigit():
                paths.append(path)
        if user is not None:
            home = self._home(user)
            if home:
                paths += [os.path.join(home, ".ssh", "authorized_keys"), os.path.join(home, ".ssh", "authorized_keys2")]
        for path in paths:
            name = self._names(path).get(fingerprint)
            if name:
                return name
        return None

    def _names(self, path: str) -> dict[str, str]:
        try:
            st = os.stat(path)
        except OSError:
            return {}
        cached = self._files.get(path)
        if cached and cached[0] == (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size):
            return cached[1]
        read = _read(path)
        if read is None:
            return {}
        identity, text = read
        names: dict[str, str] = {}
        for line in text.splitlines():
            parsed = parse_line(line)
            if parsed and parsed[1]:
                for fp in fingerprints(parsed[0]):
                    names.setdefault(fp, parsed[1][:MAX_NAME])
        if len(self._files) > 1024:
            self._files.clear()
        self._files[path] = (identity, names)
        return names

    def _home(self, user: str) -> str | None:
        now = time.monotonic()
        cached = self._homes.get(user)
        if cached and now - cached[0] < _HOME_TTL_S:
            return cached[1]
        try:
            home = pwd.getpwnam(user).pw_dir
        except (KeyError, ValueError):  # no such account; a name with NUL
            home = None
        if len(self._homes) > 4096:
            self._homes.clear()
        self._homes[user] = (now, home)
        return home
