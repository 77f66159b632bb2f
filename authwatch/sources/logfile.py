"""One open log file (one inode) read from an offset, plain or gzip.

While a file is open it is known by its device and inode; across renames,
copies and compression, by what it begins with.

* Its saved *fingerprint* covers what has been consumed of its first `HEAD`
  bytes: the hash of its first line, and of all those bytes. A rotated copy
  (logrotate's copytruncate, a compressed sibling) begins with them, unless
  it was taken before some of them were written (lines consumed between
  copy and truncation): a file too short for the whole fingerprint is
  matched on its first line, and then holds nothing left to read.
* In memory, `seen` is the longest beginning (complete lines, up to HEAD
  bytes) seen in the file, consumed or not. A file truncated and written
  again no longer agrees with it, even when it has grown past the old
  offset again, and even when nothing of it had been consumed yet.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import time
import zlib

from authwatch.sources.lines import GZIP_MAGIC
from authwatch.store import Position

HEAD = 256
_GZIP_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def complete(head: bytes) -> bytes:
    """The complete lines at the start of `head`, or all of it if it is HEAD
    bytes or longer (a first line that long is as good as complete)."""
    return head[:HEAD] if len(head) >= HEAD else head[: head.rfind(b"\n") + 1]


def fingerprint(head: bytes) -> bytes:
    """(length, hash) of the first line of `head`, then of all of complete(head)."""
    head = complete(head)
    if not head:
        return b""
    first = head[: head.find(b"\n") + 1] or head
    out = _entry(first)
    return out + _entry(head) if len(head) > len(first) else out


def _entry(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + hashlib.blake2b(data, digest_size=16).digest()


def _entries(fp: bytes) -> list[tuple[int, bytes]]:
    return [(int.from_bytes(fp[i : i + 2], "big"), fp[i + 2 : i + 18]) for i in range(0, len(fp), 18)]


class LogFile:
    """An open file and how far it has been read: `offset` is just after the
    last consumed line (in decompressed bytes for gzip), `line` the number of
    the next line."""

    def __init__(self, fd: int, name: str):
        self.fd = fd
        self.name = name  # shown in events' `source` (path:line)
        st = os.fstat(fd)
        self.device, self.inode = st.st_dev, st.st_ino
        self.offset = 0
        self.line = 1
        self.skipping = False  # inside an over-long line, dropping it
        self.seen_size = st.st_size  # for telling when a rotated-away file has gone quiet
        self.grew_at = time.monotonic()  # when it was last seen growing
        self._gz: gzip.GzipFile | None = None
        self._gz_offset = 0  # decompressed bytes taken from the gzip stream
        self._carry = b""  # of them, those not consumed yet
        if os.pread(fd, 2, 0) == GZIP_MAGIC:
            self._gz = gzip.GzipFile(fileobj=_Reader(fd))
        self.consumed_head = b""  # the consumed part of the first HEAD bytes
        self.fingerprint = b""  # of consumed_head
        self.seen = complete(self._head(HEAD))

    @classmethod
    def open(cls, path: str, name: str | None = None) -> LogFile:
        """Raises OSError (FileNotFoundError, PermissionError, IsADirectoryError)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(f"{path}: not a regular file")
            return cls(fd, name or path)
        except BaseException:
            os.close(fd)
            raise

    @property
    def compressed(self) -> bool:
        return self._gz is not None

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
            self._gz = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def position(self, source: str) -> Position:
        return Position(source, self.device, self.inode, self.offset, self.fingerprint, None, self.line)

    def stat(self) -> os.stat_result:
        return os.fstat(self.fd)

    # -- identity -------------------------------------------------------------

    def begins_like(self, fp: bytes | None) -> bool:
        """Whether this file begins with the bytes fingerprint `fp` was taken
        of, as far as it is long enough for (at least the first line). b""
        or None: nothing to compare, so yes."""
        if not fp:
            return True
        entries = _entries(fp)
        head = self._head(entries[-1][0])
        for length, digest in reversed(entries):
            if len(head) >= length:
                return hashlib.blake2b(head[:length], digest_size=16).digest() == digest
        return False

    def shares_head(self, head: bytes) -> bool:
        """Whether this file and one beginning with `head` agree on every
        byte both have, at least one complete line."""
        mine = self._head(HEAD)
        n = min(len(mine), len(head))
        return b"\n" in head[:n] and mine[:n] == head[:n]

    def content_fingerprint(self) -> bytes:
        """The fingerprint of the file's first bytes, whatever was read: for
        telling copies of one file from other files."""
        return fingerprint(self._head(HEAD))

    def intact(self) -> bool:
        """Not truncated or rewritten since it was last looked at: as long as
        what was consumed, and beginning as it did."""
        if self._gz is not None:
            return True
        if os.fstat(self.fd).st_size < self.offset:
            return False
        head = complete(self._head(HEAD))
        n = min(len(head), len(self.seen))
        if head[:n] != self.seen[:n]:
            return False
        if len(head) > len(self.seen):
            self.seen = head
        return True

    def seek(self, offset: int, line: int) -> None:
        """Continue at `offset` (just after a complete line), numbered `line`."""
        self.offset, self.line, self.skipping = offset, line, False
        self.consumed_head = self._head(min(offset, HEAD))
        self.fingerprint = fingerprint(self.consumed_head)

    def restart(self) -> None:
        """Read again from the start (after a truncation)."""
        self.seen = complete(self._head(HEAD))
        self.seek(0, 1)

    def _head(self, n: int) -> bytes:
        if self._gz is None:
            return os.pread(self.fd, n, 0)
        try:
            with gzip.GzipFile(fileobj=_Reader(self.fd)) as g:
                return g.read(n)
        except _GZIP_ERRORS:
            return b""

    # -- reading ----------------------------------------------------------------

    def read(self, limit: int) -> bytes:
        """Up to `limit` bytes from `offset` on (possibly ending inside a
        line); b"" at the end. Raises OSError for an unreadable gzip stream."""
        if self._gz is None:
            return os.pread(self.fd, limit, self.offset)
        try:
            while self._gz_offset < self.offset:  # resuming inside a compressed file
                skipped = self._gz.read(min(self.offset - self._gz_offset, 1 << 20))
                if not skipped:
                    break
                self._gz_offset += len(skipped)
            if len(self._carry) < limit:
                more = self._gz.read(limit)
                self._gz_offset += len(more)
                self._carry += more
        except _GZIP_ERRORS as e:
            raise OSError(f"{self.name}: cannot read: {e}") from None
        return self._carry[:limit]

    def consume(self, data: bytes, nlines: int) -> None:
        """`data`, read at `offset`, is done with."""
        self.offset += len(data)
        self.line += nlines
        if self._gz is not None:
            self._carry = self._carry[len(data) :]
        if len(self.consumed_head) < HEAD:
            # from what was read, not read again: the file may be truncated by now
            self.consumed_head = (self.consumed_head + data)[:HEAD]
            self.fingerprint = fingerprint(self.consumed_head)

    def tail_before(self, limit: int) -> bytes:
        """The complete lines in the `limit` bytes before `offset` (plain
        files only), for context."""
        if self._gz is not None or not self.offset:
            return b""
        start = max(0, self.offset - limit)
        data = os.pread(self.fd, self.offset - start, start)
        return data if start == 0 else data[data.find(b"\n") + 1 :]

    def count_lines_to(self, offset: int) -> int:
        """Newlines before `offset` (plain files), to number lines when
        starting in the middle of a file."""
        count, at = 0, 0
        while at < offset:
            block = os.pread(self.fd, min(1 << 20, offset - at), at)
            if not block:
                break
            count += block.count(b"\n")
            at += len(block)
        return count


class _Reader(io.RawIOBase):
    """A file object over a descriptor with its own offset (pread), so that
    several readers of one file never move each other's place."""

    def __init__(self, fd: int):
        self.fd = fd
        self.at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self.fd, len(buffer), self.at)
        buffer[: len(data)] = data
        self.at += len(data)
        return len(data)
