"""One follower per state database at a time: an advisory lock beside it.

Two followers on the same positions would read the same lines twice and
save positions over each other. `run` refuses to start while another holds
the lock; `scan` (cron) leaves quietly, so overlapping cron runs are safe.
`scan --user` (started at each login by the profile hook) waits a while for
it instead: the scan holding it may have read the file before this login's
line was written.
The kernel drops the lock when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
import time

WAIT_STEP = 0.05  # seconds between looks at a held lock


class StateLock:
    def __init__(self, state_path: str):
        self.path = state_path + ".lock"
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock; False if another process holds it (still, after
        `wait` seconds). Raises OSError if the lock file cannot be made."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        give_up = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    os.close(fd)
                    return False
                time.sleep(WAIT_STEP)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid written by the holder, for messages ("?" if unknown)."""
        try:
            with open(self.path) as f:
                return f.read().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
