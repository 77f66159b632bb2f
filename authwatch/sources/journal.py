"""Following the systemd journal: sshd's entries, and those claiming to be.

Entries are those whose `_COMM` (set by journald) or `SYSLOG_IDENTIFIER`
(chosen by the sender) is sshd, sshd-session, internal-sftp or sftp-server;
parse/journal.py tells real ones from forged ones. Times are the entries'
`__REALTIME_TIMESTAMP`, to the microsecond.

The position (a row of the store) holds, in `cursor`, the `__CURSOR` of the
last entry done with and, in `offset`, its `__REALTIME_TIMESTAMP` (µs since
the epoch). Without a cursor, `offset` says where to begin: the entries from
that time on, or (0) every entry.

* First start: after the newest sshd entry (history raises no flood of
  alerts); with --from-start, from the journal's beginning. The newest
  entries up to the starting point are read for context, as a file's last
  lines are (whether sshd logs session lines; which lines were reported).
* Restart: after the saved cursor. If the journal no longer holds that entry
  (vacuumed, rotated away, a new journal), from the oldest entry at or after
  its time, with a warning.
* Catching up: journalctl runs to the end of what is there, then a second one
  follows (`-f`) after the last entry read. A backlog therefore comes in
  whole within one poll, before the files are read (see twins.py).
* `follow=False` (scan): each poll reads to the end and stops.
* journalctl missing, or failing (a journal directory that is not there yet,
  no permission): reported once, tried again every RETRY seconds.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone, tzinfo

from authwatch.event import Event
from authwatch.notice import Notice
from authwatch.parse.journal import JournalParser
from authwatch.parse.sshd import UNKNOWN
from authwatch.parse.syslog import Stats
from authwatch.sources import Batch
from authwatch.sources.journalctl import Journalctl, command, run
from authwatch.sources.lines import MAX_LINE
from authwatch.sources.unknown import UnknownLines
from authwatch.store import Position

log = logging.getLogger("authwatch")

CONTEXT = 64  # newest entries up to the starting point read for context
RETRY = 5.0  # seconds between attempts while journalctl cannot read the journal


class JournalSource:
    def __init__(self, key: str, directory: str | None, saved: Position | None, tz: tzinfo, *, start_at_end: bool,
                 follow: bool = True, wake: Callable[[], None] | None = None, program: str = "journalctl"):
        """`key`: the source's name and row in the store (journal,
        journal:DIR). `directory`: a journal directory (journalctl -D), None
        for the system's journals. `saved`, `start_at_end`: as FileSource's.
        `follow`: keep journalctl running and `wake` the service when it
        writes (run); else read to the end at each poll (scan)."""
        self.key = key
        self.directory = directory
        self.follow = follow
        self._wake = wake
        self._program = program
        self._parser = JournalParser(tz, key)
        self._unknown = UnknownLines(key)  # sshd entries not understood, said (rate-limited)
        self._saved = saved
        self._start_at_end = start_at_end
        self._cursor: str | None = None  # of the last entry read
        self._time = 0  # its __REALTIME_TIMESTAMP; without a cursor, where to begin
        self._proc: Journalctl | None = None
        self._following = False  # _proc is the `-f` one
        self._rest = b""  # the beginning of an incomplete line
        self._earlier: tuple[Event, ...] | None = None
        self._started = False
        self._retry_at = 0.0
        self._notice = Notice(log)
        self._start()  # the starting point is the journal's end now, not at the first poll

    # -- the Source interface -------------------------------------------------------

    def watched_dirs(self) -> set[str]:
        return set()  # journalctl's output wakes the service (see journalctl.py)

    def retune(self, tz: tzinfo) -> None:
        self._parser.tz = tz

    def close(self) -> None:
        if self._proc is not None:
            self._proc.close()
            self._proc = None

    def position(self) -> Position:
        return Position(self.key, offset=self._time, cursor=self._cursor)

    def poll(self) -> Iterator[Batch]:
        if not self._started:
            if time.monotonic() < self._retry_at:
                return
            self._start()
            if not self._started:
                return
        if self._earlier is not None:
            earlier, self._earlier = self._earlier, None
            yield Batch([], self.position(), earlier, journal=True)
        while True:
            if self._proc is None and (time.monotonic() < self._retry_at or not self._spawn(follow=False)):
                return
            proc = self._proc
            assert proc is not None
            for block in proc.blocks(wait=not self._following):
                batch = self._consume(block)
                if batch is not None:
                    yield batch
            problem = proc.errors()
            if not proc.ended:
                if problem:
                    log.warning("%s: journalctl: %s", self.key, problem)
                return
            if not self._ended(proc, problem):
                return

    # -- starting -----------------------------------------------------------------------

    def _start(self) -> None:
        if self.directory is not None and not os.path.isdir(self.directory):
            self._retry(f"{self.key}: no such directory {self.directory}; waiting for it")
            return
        saved = self._saved
        context: list[dict] = []
        if saved is not None and saved.cursor:
            newest = self._newest(cursor=saved.cursor)
            if newest is None:
                return
            if newest and newest[0].get("__CURSOR") == saved.cursor:
                self._cursor, self._time, context = saved.cursor, saved.offset, newest
                log.info("%s: following after its entry of %s", self.key, self._when(saved.offset))
            else:
                self._time = saved.offset
                log.warning("%s: the entry of %s read last is no longer in the journal (vacuumed or rotated away); "
                            "reading from the oldest entry at or after that time", self.key, self._when(saved.offset))
        elif saved is not None:
            self._time = saved.offset
        elif self._start_at_end:
            newest = self._newest()
            if newest is None:
                return
            if newest:
                self._cursor, self._time = newest[0].get("__CURSOR"), _micros(newest[0]) or 0
                context = newest
                log.info("%s: following after its newest sshd entry, of %s", self.key, self._when(self._time))
        if self._cursor is None and self._time:  # resuming at a time: what came before it is the context
            context = self._newest(until=self._time) or []
        self._started = True
        self._notice.clear()
        self._earlier = tuple(self._events(reversed(context)))

    def _newest(self, cursor: str | None = None, until: int | None = None) -> list[dict] | None:
        """The CONTEXT newest entries, newest first, up to and including
        `cursor` ([] if that fails) or `until`; None if journalctl cannot run."""
        try:
            status, out, problem = run(command(self.directory, newest=CONTEXT, cursor=cursor, until=until,
                                               program=self._program))
        except (OSError, subprocess.SubprocessError) as e:
            self._retry(f"{self.key}: cannot run {self._program}: {e}; retrying every {RETRY:.0f} s")
            return None
        if status != 0 and cursor is None:
            self._retry(f"{self.key}: {self._program} failed (status {status}): {problem or 'no message'}; "
                        f"retrying every {RETRY:.0f} s")
            return None
        return [e for e in map(_entry, out.split(b"\n")) if e is not None]

    def _retry(self, message: str) -> None:
        self._notice.report(message)
        self._retry_at = time.monotonic() + RETRY

    def _when(self, micros: int) -> str:
        return datetime.fromtimestamp(micros / 1_000_000, timezone.utc).astimezone(self._parser.tz).isoformat()

    # -- reading ---------------------------------------------------------------------------

    def _spawn(self, follow: bool) -> bool:
        where = {"after": self._cursor} if self._cursor else {"since": self._time} if self._time else {}
        try:
            self._proc = Journalctl(command(self.directory, follow=follow, program=self._program, **where),
                                    self._wake if follow else None)
        except OSError as e:
            self._retry(f"{self.key}: cannot run {self._program}: {e.strerror or e}; retrying every {RETRY:.0f} s")
            return False
        self._following = follow
        return True

    def _ended(self, proc: Journalctl, problem: str) -> bool:
        """journalctl ended: start the follower if it was the catch-up and
        worked (True: read on), else report and try again later."""
        proc.close()
        self._proc = None
        self._rest = b""
        status = proc.proc.returncode
        if status == 0 and not self._following:
            if problem:
                log.warning("%s: journalctl: %s", self.key, problem)
            self._notice.clear(f"{self.key}: reading the journal again")
            return self.follow and self._spawn(follow=True)
        self._retry(f"{self.key}: journalctl {'stopped' if status == 0 else f'failed (status {status})'}"
                    f"{': ' + problem if problem else ''}; retrying every {RETRY:.0f} s")
        return False

    def _consume(self, block: bytes) -> Batch | None:
        data = self._rest + block
        cut = data.rfind(b"\n")
        if cut < 0:
            self._rest = data if len(data) <= MAX_LINE else b""
            return None
        self._rest = data[cut + 1 :]
        # journalctl writes UTF-8 (other bytes as arrays of numbers): decoded once, not line by line
        entries = [e for e in map(_entry, data[:cut].decode("utf-8", "replace").split("\n")) if e is not None]
        events = self._events(entries)
        for entry in reversed(entries):
            cursor = entry.get("__CURSOR")
            if isinstance(cursor, str):
                self._cursor, self._time = cursor, _micros(entry) or self._time
                break
        return Batch(events, self.position(), journal=True)

    def _events(self, entries) -> list[Event]:
        parse = self._parser.parse_entry
        source = self.key
        events, unknown = [], Stats()
        for entry in entries:
            r = parse(entry, source)
            if r.__class__ is Event:
                events.append(r)
            elif r is UNKNOWN:  # written as a log line would be, so that a login's shape is recognised
                unknown.record(r, source, f"{_field(entry, 'SYSLOG_IDENTIFIER')}[{_field(entry, 'SYSLOG_PID')}]: "
                                          f"{_field(entry, 'MESSAGE')}")
        self._unknown.note(unknown)
        return events


def _entry(line: str | bytes) -> dict | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _micros(entry: dict) -> int | None:
    value = entry.get("__REALTIME_TIMESTAMP")
    ok = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20  # int() refuses 4,300 digits
    return int(value) if ok else None


def _field(entry: dict, name: str) -> str:
    value = entry.get(name)
    return value if isinstance(value, str) else "?"
