"""The LogLevel this host's sshd runs with: below VERBOSE, sshd logs neither
the session type (shell, command, SFTP) nor the key file of a login.

`sshd -T` prints the configuration sshd really uses; it needs root (it
reads the host keys) and sshd's privilege separation directory. Otherwise
`/etc/ssh/sshd_config` is read as sshd reads it: keywords in any case,
`Keyword value` or `Keyword=value`, the first value obtained wins, `Include`
(globs, relative to /etc/ssh, files in lexical order) read in place, and a
`Match` block (to the next `Match` or the end of its file) only for the
users it matches, so it does not set the global level.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

LEVELS = ("QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3")
DEFAULT = "INFO"
SSHD_CONFIG = "/etc/ssh/sshd_config"
SSHD_T = ("sshd", "-T")
SSHD_DIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16  # sshd's own limit
_LINE = re.compile(r"^\s*([A-Za-z]+)(?:\s*=\s*|\s+|$)(.*)$")


class LogLevel(NamedTuple):
    level: str  # upper case, as sshd understands it
    source: str  # how it was found: "from sshd -T", "set at FILE:LINE", "sshd's default, ..."


def effective(config: str | None = None, command: Sequence[str] | None = None) -> LogLevel | None:
    """sshd's LogLevel, from `command` (default `sshd -T`; as root only) when
    it works, else from `config` (default /etc/ssh/sshd_config); None when
    neither is there (no sshd on this host)."""
    config = config or SSHD_CONFIG
    command = command or SSHD_T
    if os.geteuid() == 0:
        level = from_command(command)
        if level is not None:
            return LogLevel(level, f"from {' '.join(command)}")
    return from_file(config)


def from_command(command: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    for line in done.stdout.splitlines():
        keyword, _, value = line.partition(" ")
        level = value.strip().upper()
        level = "QUIET" if level == "SILENT" else level  # how sshd -T prints QUIET
        if keyword.lower() == "loglevel" and level in LEVELS:
            return level
    return None


def from_file(path: str, base: str = SSHD_DIR) -> LogLevel | None:
    """The global LogLevel set in `path` (and what it includes); None if
    `path` cannot be read."""
    if not os.path.isfile(path):
        return None
    found = _read(path, base, 0)
    return found or LogLevel(DEFAULT, f"sshd's default: {path} does not set it")


def _read(path: str, base: str, depth: int) -> LogLevel | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    in_match = False
    for number, line in enumerate(lines, 1):
        words = _words(line)
        if not words:
            continue
        keyword, args = words[0].lower(), words[1:]
        if keyword == "match":
            in_match = True
        elif in_match:
            continue
        elif keyword == "loglevel" and args and args[0].upper() in LEVELS:
            return LogLevel(args[0].upper(), f"set at {path}:{number}")
        elif keyword == "include" and depth < MAX_INCLUDE_DEPTH:
            for pattern in args:
                for included in sorted(glob.glob(pattern if os.path.isabs(pattern) else os.path.join(base, pattern))):
                    found = _read(included, base, depth + 1)
                    if found:
                        return found
    return None


def _words(line: str) -> list[str]:
    """`Keyword arg ...` or `Keyword=arg ...` as words; [] for a comment."""
    m = _LINE.match(line)
    if m is None:
        return []
    keyword, rest = m.groups()
    try:
        return [keyword, *shlex.split(rest, comments=True)]
    except ValueError:  # an unbalanced quote: sshd would refuse the file
        return [keyword, *rest.split()]


def problem(found: LogLevel | None) -> str | None:
    """A warning when sshd logs below VERBOSE, else None."""
    if found is None or LEVELS.index(found.level) >= LEVELS.index("VERBOSE"):
        return None
    return (f"sshd runs with LogLevel {found.level} ({found.source}): below VERBOSE it does not log the "
            "session type (shell, command, SFTP) nor the key file of a login; set 'LogLevel VERBOSE' in "
            f"{SSHD_CONFIG} and reload sshd")
