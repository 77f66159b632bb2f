"""Following the PAM hook's spool, and removing what was consumed.

The hook (contrib/pam/authwatch-pam-hook) appends one record per session
opened to a file, /var/spool/authwatch/logins by default, in a directory the
service's user owns (the hook writes as that user, never as root). The spool
is followed like a log file (FileSource: by inode and offset, a position
saved only once the alerts of the records before it are in the outbox), with
the records parser, and the service rotates it itself so that it never grows
without bound:

* When the spool holds `rotate_bytes`, or has been read to its end and has
  been quiet for `rotate_after` seconds, it is renamed `logins.1` and a new,
  empty `logins` is made for the hook's next records. A hook that opened the
  old file just before the rename writes into it all the same, and is read:
  the follower reads a renamed file to its end and closes it only once it
  has been quiet for GRACE seconds.
* `logins.1` is deleted once the follower has closed it and the saved
  position is in the new `logins`: the alerts of all its records are in the
  outbox. A crash at any moment leaves a file to be read again at the next
  start, and nothing lost.
* One rotated file at a time: while `logins.1` waits, `logins` stays.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo

from authwatch.notice import Notice
from authwatch.parse.records import RecordParser
from authwatch.sources import Batch
from authwatch.sources.file import FileSource
from authwatch.store import Position

log = logging.getLogger("authwatch")

DEFAULT = "/var/spool/authwatch/logins"
ROTATE_BYTES = 256 * 1024
ROTATE_AFTER = 600.0  # seconds


class SpoolSource:
    def __init__(self, path: str, saved: Position | None, tz: tzinfo, *, start_at_end: bool,
                 acknowledged: Callable[[], Position | None], host: str | None = None,
                 rotate_bytes: int = ROTATE_BYTES, rotate_after: float = ROTATE_AFTER):
        """`acknowledged`: the position the store holds for this spool now.
        `host`: the name records are reported under (this machine's)."""
        self.key = path
        self.path = path
        self.rotated = path + ".1"
        self.host = host or socket.gethostname()
        self.rotate_bytes = rotate_bytes
        self.rotate_after = rotate_after
        self._acknowledged = acknowledged
        self._notice = Notice(log)
        self.file = FileSource(path, saved, tz, start_at_end=start_at_end, quiet_if_missing=True,
                               parser=self._parser)

    def _parser(self, now: datetime, tz: tzinfo, name: str) -> RecordParser:
        return RecordParser(self.host, now, name)

    # -- the Source interface -------------------------------------------------------

    def poll(self) -> Iterator[Batch]:
        yield from self.file.poll()
        try:
            self._tidy()
        except OSError as e:
            self._notice.report(f"{self.path}: cannot rotate or remove the consumed spool: {e.strerror or e}; "
                                "it grows until the service's user may rename and delete files in its directory")
        else:
            self._notice.clear(f"{self.path}: rotating the spool works again")

    def watched_dirs(self) -> set[str]:
        return self.file.watched_dirs()

    def retune(self, tz: tzinfo) -> None:
        self.file.retune(tz)

    def close(self) -> None:
        self.file.close()

    # -- keeping it small ------------------------------------------------------------

    def _tidy(self) -> None:
        old = _lstat(self.rotated)
        if old is not None:
            if _lstat(self.path) is None:
                self._create()  # reading moves on to it once the rotated spool is done: see _consumed
            elif self._consumed(old):
                os.unlink(self.rotated)
                log.info("%s: removed the rotated spool: the alerts of its records are in the outbox", self.rotated)
            return
        live = _lstat(self.path)
        if live is None or not stat.S_ISREG(live.st_mode) or not live.st_size:
            return
        following = self.file.files[-1] if self.file.files else None
        if following is None or (following.device, following.inode) != (live.st_dev, live.st_ino):
            return
        read_all = following.offset >= live.st_size
        if live.st_size >= self.rotate_bytes or read_all and time.time() - live.st_mtime >= self.rotate_after:
            os.rename(self.path, self.rotated)
            self._create()
            log.info("%s: rotated to %s (read to its end, then removed)", self.path, self.rotated)

    def _create(self) -> None:
        """A new, empty spool: so that once the rotated one is read, the
        position saved is in this one, which tells that it was read (and not
        `no file yet`, which could be an old position)."""
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))

    def _consumed(self, old: os.stat_result) -> bool:
        """Whether the rotated spool was read and closed, and the saved
        position is in the spool after it: its records' alerts are in the
        outbox."""
        if any((f.device, f.inode) == (old.st_dev, old.st_ino) for f in self.file.files):
            return False
        saved = self._acknowledged()
        return saved is not None and saved.inode is not None and (saved.device, saved.inode) != (old.st_dev, old.st_ino)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
