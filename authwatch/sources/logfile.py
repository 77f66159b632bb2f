"""One open log file (one inode) read from an offset, plain or gzip.

A file is identified by its device and inode while it is open, and across
renames, copies and compression by its fingerprint: a hash of its first
`HEAD` bytes (fewer, cut after the last complete line, while the file is
shorter), with their length. Two files with the same fingerprint begin with
the same lines: a copy (logrotate's copytruncate), a compressed sibling, or
the same file under another inode. A file truncated and written again gets
new first lines, so its fingerprint changes even when it has grown past the
old offset again.
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


def fingerprint(head: bytes) -> bytes:
    """The fingerprint of a file beginning with `head` (at most HEAD bytes):
    b"" when it holds no complete line yet."""
    if len(head) < HEAD:
        head = head[: head.rfind(b"\n") + 1]
    if not head:
        return b""
    return len(head).to_bytes(2, "big") + hashlib.blake2b(head, digest_size=16).digest()


def fingerprint_length(fp: bytes | None) -> int:
    return int.from_bytes(fp[:2], "big") if fp else 0


class LogFile:
    """An open file and how far it has been read: `offset` is just after the
    last consumed line (in decompressed bytes for gzip), `line` the number of
    the next line."""

    def __init__(self, fd: int, name: str, offset: int = 0, line: int = 1):
        self.fd = fd
        self.name = name  # shown in events' `source` (path:line)
        st = os.fstat(fd)
        self.device, self.inode = st.st_dev, st.st_ino
        self.offset = offset
        self.line = line
        self.skipping = False  # inside an over-long line, dropping it
        self.seen_size = st.st_size  # for telling when a rotated-away file has gone quiet
        self.grew_at = time.monotonic()  # when it was last seen growing
        self._gz: gzip.GzipFile | None = None
        self._gz_offset = 0  # decompressed bytes taken from the gzip stream
        self._carry = b""  # of them, those not consumed yet
        if os.pread(fd, 2, 0) == GZIP_MAGIC:
            self._gz = gzip.GzipFile(fileobj=_Reader(fd))
        self.fingerprint = fingerprint(self._head(HEAD))

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
        of (b"" or None: nothing to compare, so yes)."""
        n = fingerprint_length(fp)
        if not n:
            return True
        head = self._head(n)
        return len(head) == n and fingerprint(head) == fp

    def intact(self) -> bool:
        """Not truncated or rewritten since it was read: still at least as long
        as what was consumed, still beginning with the same bytes. Extends the
        fingerprint while the file is shorter than HEAD."""
        if self._gz is not None:
            return True
        if os.fstat(self.fd).st_size < self.offset or not self.begins_like(self.fingerprint):
            return False
        if fingerprint_length(self.fingerprint) < HEAD:
            self.fingerprint = fingerprint(self._head(HEAD)) or self.fingerprint
        return True

    def restart(self) -> None:
        """Read again from the start (after a truncation)."""
        self.offset, self.line, self.skipping = 0, 1, False
        self.fingerprint = fingerprint(self._head(HEAD))

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

    def consume(self, nbytes: int, nlines: int) -> None:
        self.offset += nbytes
        self.line += nlines
        if self._gz is not None:
            self._carry = self._carry[nbytes:]

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
