"""Following one log file by inode and offset, through every kind of rotation.

The source keeps the file open and reads it by descriptor, so lines written
to a file after it was renamed are still read. It holds a short list of open
files, oldest first; the last is the file at the path. The position it
reports (and the pipeline saves) is the oldest file's, so a restart resumes
where reading is least advanced and re-reads at most a little, never skips.

* rename + create (logrotate `create`): the path names a new inode. The old
  file is read to its end and closed once nothing was written to it for
  GRACE seconds (writers reopen on logrotate's postrotate signal); the new
  file is read from its start meanwhile.
* copytruncate: the file is shorter than the offset, or no longer begins
  with the same bytes (its fingerprint) although it grew past the offset
  again. The rest of the old content is read from the rotated copy (the
  sibling beginning with the same bytes, plain or compressed), then the file
  from its start.
* rotation while stopped: the saved file is found among the rotated siblings
  by its fingerprint (inode first), read from the saved offset, followed by
  every newer sibling and the file at the path from its start.
* deleted and recreated, a symlink pointed elsewhere: a new file, read from
  its start. Replaced by another inode with the same beginning (copied back,
  moved across file systems): the same log, continued at the offset.
* First start (no saved position): at the end of the last complete line, so
  history does not flood; a file that appears later is read from its start.

Only complete lines are consumed; a half-written last line waits. A line
longer than lines.MAX_LINE is dropped (counted malformed) without being held
in memory.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, tzinfo
from typing import NamedTuple, Protocol

from authwatch.event import Event
from authwatch.notice import Notice
from authwatch.parse.syslog import Parser, Stats
from authwatch.sources import Batch
from authwatch.sources.lines import BLOCK, MAX_LINE, decode
from authwatch.sources.logfile import LogFile
from authwatch.sources.rotated import siblings
from authwatch.sources.unknown import UnknownLines
from authwatch.store import Position

log = logging.getLogger("authwatch")

GRACE = 5.0  # seconds a rotated-away file must be quiet before it is closed
CONTEXT = 64 * 1024  # bytes before the starting point read for context
LOOKS, LOOK_PAUSE = 10, 0.1  # looking for a rotated file that logrotate may be compressing or renumbering right now


class BlockParser(Protocol):
    stats: Stats

    def parse_block(self, text: str, first_lineno: int) -> list[Event]: ...


def syslog_parser(now: datetime, tz: tzinfo, name: str) -> BlockParser:
    return Parser(now, tz, source=name)


class FileSource:
    def __init__(self, path: str, saved: Position | None, tz: tzinfo, *, start_at_end: bool, quiet_if_missing: bool = False,
                 parser: Callable[[datetime, tzinfo, str], BlockParser] = syslog_parser):
        """`saved`: the position from the store (None: never followed).
        `start_at_end`: a file never followed starts at its end (first
        start); else at its beginning. `quiet_if_missing`: no warning when
        the file does not exist (one of `auto`'s candidates). `parser`:
        makes the parser of the file's lines from (now, zone, file name),
        syslog by default."""
        self.key = path
        self.parser = parser
        self.path = path
        self.tz = tz
        self.files: list[LogFile] = []
        self._saved = saved
        self._start_at_end = start_at_end
        self._quiet_if_missing = quiet_if_missing
        self._started = False
        self._at_path = False  # files[-1] is the file the path names now
        self._notice = Notice(log)
        self._unknown = UnknownLines(path)  # sshd lines not understood, said (rate-limited)
        self._earlier: tuple[Event, ...] | None = None  # context to hand out with the first batch
        self._start()  # the starting point is where the file is now, not at the first poll

    # -- the Source interface -----------------------------------------------------

    def watched_dirs(self) -> set[str]:
        return {os.path.dirname(os.path.abspath(self.path)), os.path.dirname(os.path.realpath(self.path))}

    def retune(self, tz: tzinfo) -> None:
        self.tz = tz

    def close(self) -> None:
        for f in self.files:
            f.close()
        self.files = []

    def position(self) -> Position:
        """Where to resume: the oldest open file's place, or (no file open)
        the start of the next file at the path. While a rotated file is still
        being finished, the place reached in the file at the path rides along
        in `cursor`, so a restart (every cron scan is one) does not read the
        new file again from its start."""
        if not self.files:
            return Position(self.key, line=1)
        p = self.files[0].position(self.key)
        last = self.files[-1]
        if len(self.files) > 1 and self._at_path and last.fingerprint:
            p = p._replace(cursor=_live_cursor(last))
        return p

    def poll(self) -> Iterator[Batch]:
        if not self._started:
            self._start()
            if not self._started:
                return
        if self._earlier is not None:
            earlier, self._earlier = self._earlier, None
            yield Batch([], self.position(), earlier)
        self._follow_path()  # also at the first poll: a file missing at the start may be there now
        for _ in range(3):  # a file truncated while it is read: read again
            truncated = None
            for f in list(self.files):
                if not (self._intact(f) and (yield from self._read(f))):
                    truncated = f
                    break
                if self._done_with(f):
                    yield from self._read(f, final=True)
                    f.close()
                    self.files.remove(f)
                    yield Batch([], self.position())
            if truncated is None:
                break
            self._truncated(truncated)

    # -- starting -------------------------------------------------------------------

    def _open_path(self) -> LogFile | None:
        try:
            f = LogFile.open(self.path)
        except FileNotFoundError:
            if not self._quiet_if_missing:
                self._notice.report(f"{self.path}: no such file; waiting for it to appear")
            return None
        except OSError as e:
            self._notice.report(f"{self.path}: cannot read: {e.strerror or e}; will try again")
            raise
        self._notice.clear(f"{self.path}: reading")
        return f

    def _start(self) -> None:
        try:
            live = self._open_path()
        except OSError:
            return  # unreadable: try the whole start again at the next poll
        self._started = True
        self._at_path = live is not None
        saved = self._saved
        if saved is None:
            if live is not None:
                if self._start_at_end:
                    end = live.stat().st_size
                    tail = os.pread(live.fd, min(end, MAX_LINE), end - min(end, MAX_LINE))
                    offset = end - len(tail) + tail.rfind(b"\n") + 1
                    live.seek(offset, live.count_lines_to(offset) + 1)
                self.files = [live]
        elif saved.inode is None:
            self.files = [live] if live is not None else []
        elif live is not None and self._continues(live, saved):
            live.seek(saved.offset, saved.line or live.count_lines_to(saved.offset) + 1)
            self.files = [live]
        else:
            self.files = self._rotated_since(saved, live) + ([live] if live is not None else [])
            if live is not None:
                _resume_at_cursor(live, saved.cursor)
        if self.files and self.files[0].offset:
            log.info("%s: following from line %d", self.files[0].name, self.files[0].line)
        self._earlier = self._context()

    @staticmethod
    def _continues(live: LogFile, saved: Position) -> bool:
        """Whether the file at the path is the saved one (or the same log
        under another inode) and still holds everything read from it."""
        if live.stat().st_size < saved.offset:
            return False
        if saved.fingerprint:
            return live.begins_like(saved.fingerprint)
        return (live.device, live.inode) == (saved.device, saved.inode)

    def _rotated_since(self, saved: Position, live: LogFile | None) -> list[LogFile]:
        """The saved file among the rotated siblings, open at the saved
        offset, and every newer sibling; [] if it is gone (warned)."""
        if saved.fingerprint:
            def is_it(f: LogFile) -> bool:
                return f.begins_like(saved.fingerprint)
        else:  # nothing was read from it yet: only its inode can tell
            def is_it(f: LogFile) -> bool:
                return (f.device, f.inode) == (saved.device, saved.inode)
        found, k = self._find(live, is_it, (saved.device, saved.inode))
        cursor = _Cursor.parse(saved.cursor)
        if k < 0 and cursor is not None:  # the file after it, the live one when saved, may be rotated too
            found, k = self._find(live, cursor.matches, (cursor.device, cursor.inode), looks=1)
            if k >= 0:
                for f in found[:k]:
                    f.close()
                found[k].seek(cursor.offset, cursor.line)
                log.warning("%s: rotated while stopped; the file read up to line %s (inode %s) is gone; "
                            "finishing %s from line %d, where reading had reached", self.path, saved.line,
                            saved.inode, found[k].name, found[k].line)
                return found[k:]
        if k < 0:
            if saved.offset:
                log.warning(
                    "%s: the file read up to line %s (inode %s) is gone and no rotated copy of it was found; "
                    "continuing with %s from its start",
                    self.path, saved.line, saved.inode, self.path,
                )
            return []
        for f in found[:k]:
            f.close()
        found[k].seek(saved.offset, saved.line or 1)
        log.info("%s: rotated while stopped; finishing %s from line %d first", self.path, found[k].name, found[k].line)
        for f in found[k + 1:]:
            _resume_at_cursor(f, saved.cursor)  # not again from its start what was read of it
        return found[k:]

    def _find(self, exclude: LogFile | None, is_it, inode: tuple[int | None, int | None],
              looks: int = LOOKS) -> tuple[list[LogFile], int]:
        """The rotated siblings (oldest first, `exclude` and files already
        open left out) and the index of the one `is_it` accepts: of that
        `inode` if there is one, else the newest; -1 (and none open) if none
        is. Looked for `looks` times when not found: logrotate may be
        compressing it this very moment."""
        open_now = {(f.device, f.inode) for f in self.files} - {inode}
        for attempt in range(looks):
            if attempt:
                time.sleep(LOOK_PAUSE)
            found = []
            for f in siblings(self.path, (exclude.device, exclude.inode) if exclude is not None else None):
                if (f.device, f.inode) in open_now:
                    f.close()
                else:
                    found.append(f)
            hits = [i for i, f in enumerate(found) if is_it(f)]
            if hits:
                same = [i for i in hits if (found[i].device, found[i].inode) == inode]
                return found, (same or hits)[-1]
            for f in found:
                f.close()
        return [], -1

    def _context(self) -> tuple[Event, ...]:
        if not self.files:
            return ()
        f = self.files[0]
        tail = f.tail_before(CONTEXT)
        if not tail:
            return ()
        first = f.line - tail.count(b"\n")
        parser = self.parser(datetime.now(self.tz), self.tz, f.name)
        return tuple(parser.parse_block(decode(tail[:-1]), first))

    # -- following ------------------------------------------------------------------

    def _follow_path(self) -> None:
        """Notice the path naming another file (rotation, recreation, a
        symlink pointed elsewhere) or none."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._at_path = False
            return
        except OSError as e:
            self._notice.report(f"{self.path}: cannot read: {e.strerror or e}; will try again")
            return
        last = self.files[-1] if self.files else None
        if last is not None and (st.st_dev, st.st_ino) == (last.device, last.inode):
            self._at_path = True
            return
        try:
            new = self._open_path()
        except OSError:
            return
        if new is None:
            self._at_path = False
            return
        if (
            last is not None
            and last.fingerprint
            and not last.compressed
            and new.begins_like(last.fingerprint)
            and new.stat().st_size >= last.offset
        ):
            new.seek(last.offset, last.line)
            new.skipping = last.skipping
            last.close()
            self.files[-1] = new
            log.info("%s: replaced by a file with the same beginning; continuing at line %d", self.path, new.line)
        else:
            if last is not None:
                self._rotated_away(last, new)
            self.files.append(new)
        self._at_path = True

    def _rotated_away(self, old: LogFile, new: LogFile) -> None:
        """The path names `new` now: `old` is read to its end, and so is every
        rotated file newer than it (several rotations since the last look)."""
        def is_old(s: LogFile) -> bool:
            return (s.device, s.inode) == (old.device, old.inode) or bool(old.fingerprint) and s.begins_like(old.fingerprint)

        found, k = self._find(new, is_old, (old.device, old.inode), looks=1)
        newer = found[k + 1 :] if k >= 0 else []
        if old.name == self.path:
            old.name = found[k].name if k >= 0 and (found[k].device, found[k].inode) == (old.device, old.inode) \
                else f"{self.path} (rotated)"
        for s in found[: k + 1]:
            s.close()
        self.files.extend(newer)
        log.info("%s: rotated; finishing %s%s, then reading the new file from its start", self.path, old.name,
                 f" and {len(newer)} newer rotated file(s)" if newer else "")

    def _truncated(self, f: LogFile) -> None:
        """`f` was truncated (copytruncate, or emptied by hand): read the rest
        of its old content from the rotated copy, if there is one, and every
        rotated file newer than that copy, first."""
        if f.seen:
            found, k = self._find(f, lambda s: s.shares_head(f.seen), (None, None))
            if k < 0:
                log.warning(
                    "%s: truncated at line %d, and no rotated copy beginning with the same lines was found; "
                    "lines written after line %d and before the truncation, if any, are lost",
                    self.path, f.line, f.line - 1,
                )
            else:
                for s in found[:k]:
                    s.close()
                copy, rest = found[k], found[k + 1 :]
                if not copy.compressed and copy.stat().st_size <= f.offset:
                    copy.close()  # copied before what was read last: nothing more in it
                else:
                    copy.seek(f.offset, f.line)
                    rest.insert(0, copy)
                index = self.files.index(f)
                self.files[index:index] = rest
                if rest:
                    log.info("%s: truncated (copytruncate); reading the rest of its old lines from %s", self.path,
                             ", then ".join(r.name for r in rest))
                else:
                    log.info("%s: truncated (copytruncate); its old lines were all read already", self.path)
        f.restart()

    def _read(self, f: LogFile, final: bool = False) -> Generator[Batch, None, bool]:
        """Batches of f's new complete lines (and, `final`, of its last line
        without a newline). Returns False if f turned out truncated."""
        limit = max(BLOCK, MAX_LINE + 1)
        while True:
            try:
                data = f.read(limit)
            except OSError as e:
                self._notice.report(f"{f.name}: {e}")
                return True
            if f.offset + len(data) != f.seen_size:
                f.seen_size, f.grew_at = f.offset + len(data), time.monotonic()
            if not data:
                return True
            if not self._intact(f):
                return False
            text, nbytes, nlines = _cut(f, data, final and len(data) < limit)
            if not nbytes:
                return True
            first = f.line
            f.consume(data[:nbytes], nlines)
            parser = self.parser(datetime.now(self.tz), self.tz, f.name)
            events = parser.parse_block(text, first) if text is not None else []
            self._unknown.note(parser.stats)
            yield Batch(events, self.position())

    def _intact(self, f: LogFile) -> bool:
        """Whether `f` was not truncated. Only the file at the path can be
        (copytruncate); a rotated file shorter than the offset (a copy taken
        before the last lines read were written) just has nothing left."""
        return f is not self.files[-1] or not self._at_path or f.intact()

    def _done_with(self, f: LogFile) -> bool:
        """Whether `f`, read to its end, is no longer at the path and quiet
        for GRACE seconds (or compressed: nobody writes those)."""
        if f is self.files[-1] and self._at_path:
            return False
        if f.compressed:
            return True
        st = f.stat()
        if st.st_size != f.seen_size:
            f.seen_size, f.grew_at = st.st_size, time.monotonic()
            return False
        return time.time() - st.st_mtime >= GRACE or time.monotonic() - f.grew_at >= GRACE


def _live_cursor(f: LogFile) -> str:
    """The place reached in the file at the path, for Position.cursor."""
    return f"file {f.device} {f.inode} {f.offset} {f.line} {f.fingerprint.hex()}"


class _Cursor(NamedTuple):
    """Position.cursor: the place reached in the file at the path while a
    rotated one was still being finished."""

    device: int
    inode: int
    offset: int
    line: int
    fingerprint: bytes

    @staticmethod
    def parse(text: str | None) -> "_Cursor | None":
        parts = (text or "").split(" ")
        if len(parts) != 6 or parts[0] != "file":
            return None
        try:
            return _Cursor(int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]), bytes.fromhex(parts[5]))
        except ValueError:
            return None

    def matches(self, f: LogFile) -> bool:
        """Whether `f` is that file (same beginning), still holding what was read of it."""
        return bool(self.fingerprint) and f.begins_like(self.fingerprint) and f.stat().st_size >= self.offset


def _resume_at_cursor(f: LogFile, text: str | None) -> None:
    """Continue `f` where the saved cursor says it was read to, if it is
    that file (the live file then, here or rotated since)."""
    cursor = _Cursor.parse(text)
    if cursor is not None and cursor.matches(f):
        f.seek(cursor.offset, cursor.line)
        log.info("%s: continuing at line %d after the rotated file", f.name, cursor.line)


def _cut(f: LogFile, data: bytes, last: bool) -> tuple[str | None, int, int]:
    """What of `data` (read at f's offset) to consume: (text of complete
    lines or None, bytes, lines). `last`: data is all that is left of a file
    nobody writes any more, so a last line without a newline counts too. An
    over-long line is skipped as one empty (malformed) line."""
    if f.skipping:
        nl = data.find(b"\n")
        if nl < 0:
            return None, len(data), 0
        f.skipping = False
        return "", nl + 1, 1
    cut = data.rfind(b"\n")
    if last and cut + 1 < len(data):
        return decode(data), len(data), data.count(b"\n") + 1  # the last line has no newline
    if cut < 0:
        if len(data) > MAX_LINE:
            f.skipping = True
            return None, len(data), 0
        return None, 0, 0
    return decode(data[:cut]), cut + 1, data.count(b"\n", 0, cut + 1)
