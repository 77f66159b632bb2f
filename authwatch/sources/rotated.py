"""Rotated log sets in the order they were written.

logrotate names the files of a set `auth.log.1`, `auth.log.2.gz`, ... (the
highest number the oldest) or, with `dateext`, `secure-20261108` (the
earliest date the oldest); the live file has no suffix.

* `authwatch learn /var/log/auth.log*` gets `auth.log auth.log.1 auth.log.2.gz
  ...` from the shell: newest first, then oldest last. History must be read
  oldest first, so `oldest_first` puts each set (files that share a base
  name) in order, then the live file. Sets keep the order in which they were
  named.
* The follower looks for the rotated siblings of the file it follows
  (`siblings`): to finish a file that was rotated while authwatch was
  stopped, or several times between two looks. They are opened when listed,
  so a rotation that renames them meanwhile changes nothing: what was opened
  stays what is read. Two siblings with the same content (a file and its
  compressed copy, while logrotate compresses) count once, the plain one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from authwatch.sources.logfile import LogFile

_NUMBERED = re.compile(r"^(?P<base>.+?)\.(?P<n>\d+)(?:\.gz)?$")
_DATED = re.compile(r"^(?P<base>.+?)-(?P<date>\d{8}(?:\d{2})?)(?:\.gz)?$")


def _place(path: str) -> tuple[str, tuple[int, int]]:
    """(base name, position within its set: older first)."""
    m = _NUMBERED.match(path)
    if m:
        return m.group("base"), (0, -int(m.group("n")))
    m = _DATED.match(path)
    if m:
        return m.group("base"), (0, int(m.group("date")))
    return path[:-3] if path.endswith(".gz") else path, (1, 0)


def oldest_first(paths: Sequence[str]) -> list[str]:
    sets: dict[str, list[tuple[tuple[int, int], int, str]]] = {}
    for i, path in enumerate(paths):
        base, rank = _place(path)
        sets.setdefault(base, []).append((rank, i, path))
    return [path for members in sets.values() for _, _, path in sorted(members)]


def rotated_of(path: str) -> str | None:
    """The live file `path` is a rotated sibling of, None if it is none."""
    base, (live, _) = _place(path)
    return None if live else base


def siblings(path: str, exclude: tuple[int, int] | None = None) -> list[LogFile]:
    """The rotated siblings of `path` that can be opened, oldest first, each
    open at offset 0. `exclude`: the (device, inode) of the live file."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    try:
        names = [n for n in os.listdir(directory) if rotated_of(os.path.join(directory, n)) == real]
    except OSError:
        return []
    found: list[tuple[tuple[int, int], LogFile]] = []
    for name in names:
        full = os.path.join(directory, name)
        try:
            f = LogFile.open(full)
        except OSError:
            continue  # renamed or removed meanwhile, or unreadable
        if (f.device, f.inode) == exclude:
            f.close()
            continue
        found.append((_place(full)[1], f))
    found.sort(key=lambda t: (t[0], t[1].compressed))
    out: list[LogFile] = []
    seen: set[bytes] = set()
    for _, f in found:
        fp = f.content_fingerprint()
        if fp and fp in seen:
            f.close()
            continue
        seen.add(fp)
        out.append(f)
    return out
