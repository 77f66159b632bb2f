"""Reading log files as blocks of text: plain, gzip or stdin.

Files are read in large blocks of complete lines that are decoded in one go
and handed to the parser whole, which is what lets replay keep up with
hundreds of thousands of lines a second. Lines are decoded as UTF-8 with
undecodable bytes replaced, never raising. A line longer than a block is not
held in memory: it is skipped and yielded as an empty line, which the parser
counts as malformed (as it does any line over MAX_LINE), so memory stays flat
whatever the input.
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 1 << 20
MAX_LINE = 64 * 1024  # longer lines are malformed (sshd cuts its messages at 1 KB: parse.sshd.MAX_MESSAGE)
GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """A file that cannot be read: missing, a directory, unreadable, corrupt."""


def check_readable(path: str) -> None:
    """Raise InputError with a one-line reason unless `path` can be replayed."""
    if path == "-":
        return
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a log file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")


def open_log(path: str) -> BinaryIO:
    """Open a log for reading; gzip is recognised by its magic bytes, not its name."""
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        return gzip.GzipFile(fileobj=raw) if head == GZIP_MAGIC else raw  # type: ignore[return-value]
    try:
        f = open(path, "rb")  # noqa: SIM115 - handed to the caller
        head = f.peek(2)[:2]  # not read: a pipe (`replay <(zcat ...)`) cannot seek back
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    return gzip.GzipFile(fileobj=f) if head == GZIP_MAGIC else f  # type: ignore[return-value]


def text_blocks(stream: BinaryIO, name: str = "input") -> Iterator[str]:
    """Yield decoded blocks of whole lines, joined by "\\n" without a final
    newline (a block of n lines holds n-1 newlines). A last line with no
    newline is yielded too. Raises InputError for a corrupt or cut-off gzip
    stream, after every complete line before the damage was yielded."""
    carry = b""
    skipping = False  # inside an over-long line, dropping bytes up to its end
    # read1: a gzip stream hands over what it decompressed so far, so a file
    # cut off in the middle still gives the lines before the cut
    read = getattr(stream, "read1", stream.read)
    try:
        while True:
            block = read(BLOCK)
            if not block:
                break
            if skipping:
                nl = block.find(b"\n")
                if nl < 0:
                    continue
                block = block[nl + 1 :]
                skipping = False
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > MAX_LINE:
                    yield ""
                    carry, skipping = b"", True
                else:
                    carry = data
                continue
            carry = data[cut + 1 :]
            if len(carry) > MAX_LINE:
                yield decode(data[:cut])
                yield ""
                carry, skipping = b"", True
                continue
            yield decode(data[:cut])
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise InputError(f"{name}: cannot read: {e}") from None
    if carry:
        yield decode(carry)


def decode(data: bytes) -> str:
    """Complete lines (without the last newline) as text, never raising; the
    number of lines is kept."""
    text = data.decode("utf-8", "replace")
    if "\x00" in text or "\r" in text:
        # Runs of NUL bytes where a crash left a hole in a log file; CRLF files.
        text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\\r")
    return text

