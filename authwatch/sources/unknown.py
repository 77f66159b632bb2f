"""sshd lines of unknown shape, said while following (`run`, `scan`).

A line sshd wrote that authwatch does not understand may be a login it
cannot alert on (a new OpenSSH wording, a log template that adds a field):
the owner must hear of it. The parser already counts such lines, with a few
examples, in its Stats; a source hands each batch's Stats to `note`, so
nothing is added per line. The first line is said at once, with where it is
and its text; then at most one line per INTERVAL with the count since, so a
flood cannot fill the journal. A line whose message begins like a login
(`Accepted`, `Partial`) is said as an error, on its own schedule, so that a
flood of harmless unknown lines cannot hide it.
"""

from __future__ import annotations

import logging
import re
import time

from authwatch.output import printable
from authwatch.parse.syslog import Stats

log = logging.getLogger("authwatch")

INTERVAL = 3600.0  # seconds between two warnings of a kind about one source
SHOWN = 200  # characters of a line's text shown

# The message begins with Accepted/Partial: after `sshd[pid]: `, after RFC
# 5424's header.
_LOGIN = re.compile(r"(?:\]: |<\d{1,3}>1 (?:\S+ ){5}(?:-|\[.*?\]) ?)(?:Accepted|Partial) ", re.ASCII)


class _Kind:
    """Lines of one kind: said at once, then counted and said at most every INTERVAL."""

    def __init__(self, level: int, what: str):
        self.level = level
        self.what = what
        self.said_at: float | None = None
        self.count = 0
        self.example = ""

    def add(self, n: int, example: str) -> None:
        if not self.count:
            self.example = example
        self.count += n

    def say(self, key: str, now: float) -> None:
        if not self.count or self.said_at is not None and now - self.said_at < INTERVAL:
            return
        more = f" ({self.count} such lines since the last warning, said at most hourly)" if self.count > 1 else ""
        log.log(self.level, "%s: %s%s, not understood and skipped: %s", key, self.what, more,
                printable(self.example, SHOWN))
        self.said_at, self.count = now, 0


class UnknownLines:
    def __init__(self, key: str):
        self.key = key
        self.logins = _Kind(logging.ERROR, "a login may have been missed: an sshd line of unknown shape")
        self.others = _Kind(logging.WARNING, "an sshd line of unknown shape (authwatch may not fit this OpenSSH)")

    def note(self, stats: Stats) -> None:
        """After a batch: what its parser counted."""
        if stats.unknown:
            logins = [e for e in stats.unknown_examples if _LOGIN.search(e)]
            if logins:
                self.logins.add(len(logins), logins[0])
            others = [e for e in stats.unknown_examples if e not in logins] or [""]
            if stats.unknown > len(logins):
                self.others.add(stats.unknown - len(logins), others[0])
        elif not (self.logins.count or self.others.count):
            return
        now = time.monotonic()
        self.logins.say(self.key, now)
        self.others.say(self.key, now)
