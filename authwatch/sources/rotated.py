"""Finding the rotated siblings of a log: `auth.log.1`, `auth.log.2.gz`,
`auth.log-20261122`, `auth.log-20261122.gz`.

They are opened when listed, so a rotation that renames them while they are
being looked at changes nothing: what was opened stays what is read. They are
ordered oldest first: by their number when every one has one (logrotate's
default scheme, `.1` the newest), else by modification time (logrotate keeps
it when it compresses or copies). Two siblings with the same content (a file
and its compressed copy, while logrotate compresses) count once, the plain
one first.
"""

from __future__ import annotations

import os
import re

from authwatch.sources.logfile import LogFile

# what may follow the log's name: ".1", ".2.gz", "-20261122", "-2026-11-22.gz", ".20261122-1730"
_SUFFIX = re.compile(r"[.-](?P<stamp>[0-9][0-9._-]*?)(?P<gz>\.gz)?")
_NUMBER = re.compile(r"\.([0-9]{1,4})(?:\.gz)?")  # logrotate's numbering (not a date)


def rotated_name(name: str, base: str) -> bool:
    """Whether file name `name` is a rotated sibling of `base`."""
    return name.startswith(base) and len(name) > len(base) and bool(_SUFFIX.fullmatch(name, len(base)))


def siblings(path: str, exclude: tuple[int, int] | None = None) -> list[LogFile]:
    """The rotated siblings of `path` that can be opened, oldest first, each
    open at offset 0. `exclude`: the (device, inode) of the live file."""
    real = os.path.realpath(path)
    directory, base = os.path.split(real)
    try:
        names = [n for n in os.listdir(directory) if rotated_name(n, base)]
    except OSError:
        return []
    found: list[tuple[LogFile, int | None, float]] = []
    for name in names:
        full = os.path.join(directory, name)
        try:
            f = LogFile.open(full)
        except OSError:
            continue  # renamed or removed meanwhile, or unreadable
        if (f.device, f.inode) == exclude:
            f.close()
            continue
        number = _NUMBER.fullmatch(name, len(base))
        found.append((f, int(number[1]) if number else None, f.stat().st_mtime))
    if all(number is not None for _, number, _ in found):
        found.sort(key=lambda t: (-t[1], t[0].compressed))  # type: ignore[operator]
    else:
        found.sort(key=lambda t: (t[2], t[0].compressed))
    out: list[LogFile] = []
    seen: set[bytes] = set()
    for f, _, _ in found:
        fp = f.content_fingerprint()
        if fp and fp in seen:
            f.close()
            continue
        seen.add(fp)
        out.append(f)
    return out
