"""What the commands share: warnings and errors for a person at a terminal
(`authwatch: warning: ...` on standard error, one line each; the library's
own log goes the same way), and times given on the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, tzinfo

from authwatch import config
from authwatch.errors import UsageError

PROG = "authwatch"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config, as every command that reads the configuration takes it."""
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: see 'authwatch --help')")


def error(message: str) -> None:
    for line in message.splitlines() or [""]:
        print(f"{PROG}: error: {line}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


class _StderrHandler(logging.Handler):
    """The library's log (delivery failures, ...) as `authwatch: warning: ...`
    on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        for line in self.format(record).splitlines() or [""]:
            print(f"{PROG}: {record.levelname.lower()}: {line}", file=sys.stderr)


def log_to_stderr(level: int = logging.WARNING) -> None:
    """Show the library's log records from `level` up (`run` shows INFO too)."""
    logger = logging.getLogger(PROG)
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    handler.setLevel(level)


def parse_time(text: str, tz: tzinfo, option: str, alternative: str = "") -> datetime:
    """An ISO 8601 time from the command line; without an offset, in `tz`."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected an ISO 8601 time such as 2026-11-22T15:04:05"
                         + (f" {alternative}" if alternative else "")) from None
    return t if t.tzinfo else t.replace(tzinfo=tz)


def load_settings(path: str | None, sends: bool) -> config.Settings:
    """The configuration (`--config PATH` or the search path), its warnings
    said; `sends`: whether the command may send alerts (see config.load)."""
    settings = config.load(path, sends)
    for w in settings.warnings:
        warn(w)
    return settings
