"""`journalctl -o json` as a child process, read by a thread.

Why a child process and not a library binding (systemd-python, cysystemd):

* journalctl is there wherever the journal is (it ships with systemd), and
  it is the reader that matches the running journald: a binding bundling an
  older libsystemd (cysystemd's wheels carry systemd 252's) may fail on
  journal files written with newer on-disk features.
* Nothing to build: systemd-python has no wheels (it needs gcc, Python
  headers and libsystemd-dev), and cysystemd's wheels need glibc 2.34 or
  newer (not RHEL 8, Debian 11) and x86_64/aarch64; anywhere else pip would
  compile it. authwatch installs from PyPI alone, with no system headers.
* `-D DIR` (a journal directory, as the tests use) and the cursor, time and
  match options are all there, and its output is the `journalctl -o json`
  export `replay` already reads.

The thread only moves bytes: it reads the pipe in blocks into a small bounded
queue (so a stalled follower stalls journalctl, not memory) and wakes the
service. Parsing happens in the caller's thread.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence

from authwatch.parse.journal import IDENTS

# What the parser reads; journalctl adds __CURSOR, __REALTIME_TIMESTAMP,
# __MONOTONIC_TIMESTAMP and _BOOT_ID. Fewer fields: less to write and parse.
FIELDS = ("MESSAGE", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "_PID", "_UID", "_COMM", "_EXE", "_HOSTNAME")
# Entries that are sshd's (_COMM, set by journald) or claim to be
# (SYSLOG_IDENTIFIER, chosen by the sender): a forgery names sshd only there.
MATCHES = (*(f"_COMM={i}" for i in sorted(IDENTS)), "+", *(f"SYSLOG_IDENTIFIER={i}" for i in sorted(IDENTS)))
BLOCK = 1 << 16
DEPTH = 64  # blocks queued at most (4 MiB)
STOP_WAIT = 2.0  # seconds journalctl gets to leave after SIGTERM


def command(directory: str | None, *, follow: bool = False, after: str | None = None, cursor: str | None = None,
            since: int | None = None, until: int | None = None, newest: int | None = None,
            program: str = "journalctl") -> list[str]:
    """The journalctl command line: sshd's entries as JSON, oldest first from
    the start of the journal, or just `after` a cursor, or `since` a time (µs
    since the epoch); `newest`: the N newest instead, newest first, up to
    and including `cursor` or `until` if given."""
    # --merge: every journal, with or without -f (which alone means "this boot only", and fails on a
    # journal that has no entry of this boot yet); remote ones (systemd-journal-remote) included.
    argv = [program, "-o", "json", "--output-fields=" + ",".join(FIELDS), "--no-pager", "--merge"]
    if directory is not None:
        argv += ["-D", directory]
    if newest is not None:
        argv += ["-r", "-n", str(newest)]
        if cursor is not None:
            argv.append("--cursor=" + cursor)
        elif until is not None:
            argv.append("--until=" + _at(until))
    elif after is not None:
        argv.append("--after-cursor=" + after)
    elif since is not None:
        argv.append("--since=" + _at(since))
    if follow:
        argv += ["-f", "--no-tail"]
    return [*argv, *MATCHES]


class Journalctl:
    """One running journalctl. Raises OSError if it cannot be started
    (FileNotFoundError: not installed)."""

    def __init__(self, argv: Sequence[str], wake: Callable[[], None] | None = None):
        self._wake = wake or (lambda: None)
        self._errors = tempfile.TemporaryFile()
        self._errors_read = 0
        try:
            self.proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self._errors, env=_env(), close_fds=True)
        except BaseException:
            self._errors.close()
            raise
        self._queue: queue.Queue[bytes | None] = queue.Queue(DEPTH)
        self.ended = False  # its output has been read to the end
        self._thread = threading.Thread(target=self._pump, name="journalctl", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        try:
            while True:
                data = os.read(fd, BLOCK)
                if not data:
                    break
                self._queue.put(data)
                self._wake()
        except OSError:
            pass
        finally:
            self._queue.put(None)
            self._wake()

    def blocks(self, wait: bool) -> Iterator[bytes]:
        """What it wrote since the last call, in blocks; `wait`: everything
        up to the end of its output (it exits)."""
        while not self.ended:
            try:
                data = self._queue.get(block=wait)
            except queue.Empty:
                return
            if data is None:
                self.ended = True
                self.proc.wait()
                return
            yield data

    def errors(self) -> str:
        """What it wrote to standard error since the last call."""
        size = os.fstat(self._errors.fileno()).st_size
        if size <= self._errors_read:
            return ""
        data = os.pread(self._errors.fileno(), size - self._errors_read, self._errors_read)
        self._errors_read = size
        return data.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        while self._thread.is_alive():  # it may be waiting for room in the queue
            try:
                self._queue.get(timeout=STOP_WAIT)
            except queue.Empty:
                if self.proc.poll() is None:
                    self.proc.kill()
        self._thread.join()
        try:
            self.proc.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._errors.close()


def run(argv: Sequence[str], timeout: float = 60.0) -> tuple[int, bytes, str]:
    """Run journalctl to its end: (exit status, output, errors). Raises
    OSError if it cannot be started, subprocess.TimeoutExpired."""
    r = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, env=_env(), timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace").strip()


def _at(micros: int) -> str:
    return f"@{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _env() -> dict[str, str]:
    return dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")
