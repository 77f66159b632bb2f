"""Parsers of formats with one event per line (hook records, ~/.ssh_logins):
the block loop and its counts, shared."""

from __future__ import annotations

from authwatch.event import Event
from authwatch.parse.syslog import Stats


class LineParser:
    """Subclasses set `stats = Stats()` and define `parse(line, lineno)`,
    which returns an Event or None (a malformed line)."""

    stats: Stats

    def parse(self, line: str, lineno: int = 1) -> Event | None:
        raise NotImplementedError

    def parse_block(self, text: str, first_lineno: int) -> list[Event]:
        """The events of a block of lines joined by newlines, counted in `stats`."""
        out = []
        stats = self.stats
        for lineno, line in enumerate(text.split("\n"), first_lineno):
            stats.lines += 1
            event = self.parse(line, lineno)
            if event is None:
                stats.malformed += 1
            else:
                stats.events += 1
                out.append(event)
        return out
