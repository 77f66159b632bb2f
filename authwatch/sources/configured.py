"""The files and journals the `sources:` setting names, resolved now.

* `auto`: /var/log/auth.log (Debian, Ubuntu) and /var/log/secure (RHEL,
  Fedora): whichever exist, and both are waited for; when neither exists at
  the start, the systemd journal too (Debian 12 and newer without rsyslog,
  Fedora, Arch keep sshd's lines only there). The choice holds until the
  configuration is read again: a rotation that briefly leaves no file does
  not switch sources.
* `journal`: the system's journals (journalctl's own choice: as root, all of
  them); `journal:DIR`: the journal files in DIR (journalctl -D).
* a path: followed, and waited for while it does not exist.
* a glob: the regular files matching it now (looked at again on every
  safety poll and whenever a file appears in its directory), except
  compressed files and rotated siblings of a file that exists (`auth.log.1`
  beside `auth.log`), which the follower reads itself after a rotation.
* `hook` (or `hook:PATH`): the PAM hook's spool, /var/spool/authwatch/logins
  by default (sources/spool.py); it appears with the first login.
* `profile` (or `profile:PATH`): the file the profile hook appends to,
  ~/.ssh_logins by default (no root: `authwatch scan --user`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import NamedTuple

from authwatch.sources.rotated import rotated_of

AUTO = ("/var/log/auth.log", "/var/log/secure")
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")  # persistent, volatile
JOURNAL = "journal"
LOG, HOOK, PROFILE = "log", "hook", "profile"  # what a file holds
DEFAULTS = {HOOK: "/var/spool/authwatch/logins", PROFILE: "~/.ssh_logins"}
_GLOB_CHARS = frozenset("*?[")
_COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z")


class Wanted(NamedTuple):
    path: str
    quiet_if_missing: bool  # auto's candidates and glob matches: no warning when absent
    kind: str = LOG  # LOG: syslog text; HOOK: the PAM hook's spool; PROFILE: ~/.ssh_logins


def hook_entry(entry: str) -> tuple[str, str] | None:
    """(HOOK or PROFILE, the file) for a `hook[:PATH]` or `profile[:PATH]`
    entry, None for any other."""
    kind, _, path = entry.partition(":")
    if kind not in DEFAULTS or (not path and entry != kind):
        return None
    return kind, os.path.expanduser(path or DEFAULTS[kind])


class Journal(NamedTuple):
    key: str  # journal, journal:DIR
    directory: str | None


SYSTEM_JOURNAL = Journal(JOURNAL, None)


class Resolved(NamedTuple):
    files: list[Wanted]
    problems: list[str]  # one line each, for the log
    journals: list[Journal] = []
    auto_journal: bool = False  # `auto` chose the journal


def is_journal(entry: str) -> bool:
    return entry == JOURNAL or entry.startswith(JOURNAL + ":")


def is_glob(entry: str) -> bool:
    return bool(_GLOB_CHARS & set(entry))


def resolve(entries: Sequence[str], auto_journal: bool | None = None) -> Resolved:
    """`auto_journal`: whether `auto` includes the journal, as decided
    before; None: decide now (it does when neither file exists)."""
    files: dict[str, Wanted] = {}
    journals: dict[str, Journal] = {}
    problems = []
    for entry in entries:
        if entry == "auto":
            for path in AUTO:
                files.setdefault(path, Wanted(path, True))
            if auto_journal is None:
                auto_journal = not any(os.path.exists(p) for p in AUTO)
            if auto_journal:
                journals.setdefault(SYSTEM_JOURNAL.key, SYSTEM_JOURNAL)
        elif (hooked := hook_entry(entry)) is not None:
            kind, path = hooked
            files[path] = Wanted(path, True, kind)
            if kind == HOOK and not os.path.isdir(os.path.dirname(path)):
                problems.append(f"sources: {entry}: the spool directory {os.path.dirname(path)} does not exist; "
                                "make it (owned by the service's user, mode 0700) for the PAM hook to write to")
        elif entry == JOURNAL:
            journals.setdefault(SYSTEM_JOURNAL.key, SYSTEM_JOURNAL)
        elif is_journal(entry):
            journals.setdefault(entry, Journal(entry, entry.partition(":")[2]))
        elif is_glob(entry):
            for path in sorted(glob.glob(entry)):
                if os.path.isfile(path) and not _rotated_or_compressed(path):
                    files.setdefault(path, Wanted(path, True))
        else:
            files[entry] = Wanted(entry, False)
    return Resolved(list(files.values()), problems, list(journals.values()), bool(auto_journal))


def watched_dirs(entries: Sequence[str]) -> set[str]:
    """Directories where a new file may add a source (globs, auto)."""
    dirs = set()
    for entry in entries:
        if entry == "auto":
            dirs.update(os.path.dirname(p) for p in AUTO)
        elif is_glob(entry):
            dirs.update(d for d in glob.glob(os.path.dirname(entry)) if os.path.isdir(d))
    return dirs


def _rotated_or_compressed(path: str) -> bool:
    base = rotated_of(path)
    return path.endswith(_COMPRESSED) or (base is not None and os.path.exists(base))


def auto_finds_nothing() -> str | None:
    """Why `auto` has nothing to read (neither system log, and no journal
    files), or None when it has something."""
    if any(os.path.exists(p) for p in AUTO) or journal_files():
        return None
    return (f"sources: auto: neither {' nor '.join(AUTO)} exists, and there are no systemd journal files in "
            f"{' or '.join(JOURNAL_DIRS)}: there is nothing to read until one appears; name the log in `sources:`")


def journal_files() -> bool:
    """Whether the system has journal files (that this user may see listed)."""
    return any(glob.glob(os.path.join(d, "*", "*.journal")) or glob.glob(os.path.join(d, "*.journal"))
               for d in JOURNAL_DIRS)
