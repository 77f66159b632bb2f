"""The profile hook's file (~/.ssh_logins), followed as a log file of its own format."""

from __future__ import annotations

import socket
from datetime import datetime, tzinfo

from authwatch.parse.sshlogins import LoginsParser


def profile_parser(now: datetime, tz: tzinfo, name: str) -> LoginsParser:
    """A parser for FileSource: lines of this machine's logins."""
    return LoginsParser(socket.gethostname(), tz, name)
