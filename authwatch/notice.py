"""A problem reported once when it starts, not on every retry."""

from __future__ import annotations

import logging


class Notice:
    def __init__(self, log: logging.Logger):
        self.log = log
        self.current: str | None = None

    def report(self, message: str, level: int = logging.WARNING) -> None:
        """Log `message` unless it is the problem already reported."""
        if message != self.current:
            self.log.log(level, "%s", message)
            self.current = message

    def clear(self, message: str | None = None) -> None:
        """The problem is over; say so with `message` if one was reported."""
        if self.current is not None and message:
            self.log.info("%s", message)
        self.current = None
