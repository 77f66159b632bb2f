"""Where events come from.

`lines.py` reads whole files for replay. For following, every source is an
item with the small interface below, so that the journal and the PAM hook
spool join the log files as further items of the same list (file.py: a
log file; journal.py: the systemd journal):

    key             the source's row in the state store's positions table
    poll()          everything new since the last call, oldest first, as
                    batches; each batch carries the position the source
                    reaches once its events are done with (the pipeline
                    saves it only then)
    watched_dirs()  directories whose changes mean "poll me soon" (inotify)
    retune(tz)      settings changed (SIGHUP)
    close()
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import tzinfo
from typing import NamedTuple, Protocol

from authwatch.event import Event
from authwatch.store import Position


class Batch(NamedTuple):
    events: list[Event]
    position: Position
    # Events logged before the source's starting point, read only so that the
    # correlator knows whether a host logs session lines (never queued).
    earlier: tuple[Event, ...] = ()
    # From the systemd journal, which knows who wrote each entry: where a text
    # log carries the same lines, the journal's report of a line wins (twins.py).
    journal: bool = False


class Source(Protocol):
    key: str

    def poll(self) -> Iterator[Batch]: ...

    def watched_dirs(self) -> set[str]: ...

    def retune(self, tz: tzinfo) -> None: ...

    def close(self) -> None: ...
