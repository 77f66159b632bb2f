"""Rotated log sets in the order they were written.

`authwatch learn /var/log/auth.log*` gets `auth.log auth.log.1 auth.log.2.gz
...` from the shell: newest first, then oldest last. History must be read
oldest first, so each set (files that share a base name) is put in order:
numbered files from the highest number down (`auth.log.4.gz` ... `auth.log.1`),
or dated ones (`secure-20261108`, logrotate's `dateext`) from the earliest,
then the live file. Sets keep the order in which they were named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
