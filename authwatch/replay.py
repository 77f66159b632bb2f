"""Replay: the whole pipeline over log files (syslog text or journal JSON
exports), in log time.

Classic timestamps carry no year and no zone: each file is read with a "now"
(by default its modification time; the wall clock for stdin) and in the
configured zone, so a replay gives the same result on any day. Logins are held
for their session line in log time, which costs nothing here, from the moment
the input shows session lines (sshd at LogLevel VERBOSE, or an SFTP server that
logs): a cheap look at each block before parsing it, so that the first login
of a file waits for its session line too.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone, tzinfo

from authwatch.parse import records, sshlogins
from authwatch.parse.journal import JournalParser, looks_like_journal
from authwatch.parse.perline import LineParser
from authwatch.parse.syslog import Parser, Stats
from authwatch.pipeline import Pipeline, Result
from authwatch.sources.lines import InputError, check_readable, open_log, text_blocks

# How long (in log time) a login waits for its `Starting session` line. Classic
# timestamps have whole seconds, and a busy host may log the session line a
# little later, so this is generous; it delays nothing in a replay.
REPLAY_HOLD = timedelta(seconds=5)


def _has_session_lines(text: str) -> bool:
    return "Starting session: " in text or "session opened for local user " in text


def display_name(path: str) -> str:
    return "stdin" if path == "-" else path


def file_now(path: str, tz: tzinfo) -> datetime:
    """The "now" a file's classic timestamps are read against."""
    if path == "-":
        return datetime.now(tz)
    return datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc).astimezone(tz)


FORMATS = ("auto", "syslog", "journal-json", "hook-records", "ssh-logins")


def _format(fmt: str, first_block: str) -> str:
    """The format of a file that begins with `first_block` (fmt "auto")."""
    if fmt != "auto":
        return fmt
    if looks_like_journal(first_block[:4096]):
        return "journal-json"
    if first_block.startswith(records.PREFIX):
        return "hook-records"
    if sshlogins.looks_like(first_block[:4096]):
        return "ssh-logins"
    return "syslog"


def _parser(fmt: str, path: str, name: str, tz: tzinfo, now: datetime | None) -> LineParser | Parser | JournalParser:
    if fmt == "journal-json":
        return JournalParser(tz, name)
    if fmt == "hook-records":
        return records.RecordParser(socket.gethostname(), now or file_now(path, tz), name)
    if fmt == "ssh-logins":
        return sshlogins.LoginsParser(socket.gethostname(), tz, name)
    return Parser(now or file_now(path, tz), tz, name)


def replay(
    paths: Sequence[str],
    pipeline: Pipeline,
    tz: tzinfo,
    on_results: Callable[[list[Result]], None],
    now: datetime | None = None,
    fmt: str = "auto",
) -> tuple[Stats, list[str], list[str]]:
    """Run `paths` through `pipeline`; returns the parse statistics, the
    one-line errors of files that could not be read to the end, and warnings
    about files none of whose lines was understood. `fmt`:
    syslog text, `journalctl -o json` lines, the PAM hook's records, the
    profile hook's ~/.ssh_logins, or auto (each file by its first line).
    Records are this machine's: given with logs, each login alerts once."""
    for path in paths:
        check_readable(path)
    if _records_among(paths, fmt):
        pipeline.correlator.pair([socket.gethostname()], logs_followed=True)
    stats = Stats()
    errors, warnings = [], []
    for path in paths:
        name = display_name(path)
        parser: Parser | JournalParser | None = None
        lineno = 1
        try:
            stream = open_log(path)
            try:
                for text in text_blocks(stream, name):
                    if parser is None:
                        parser = _parser(_format(fmt, text), path, name, tz, now)
                    if not pipeline.correlator.hold_always and _has_session_lines(text):
                        pipeline.correlator.hold_all()
                    events = parser.parse_block(text, lineno)
                    lineno += text.count("\n") + 1
                    if events:
                        on_results(pipeline.feed(events))
            finally:
                if path != "-":
                    stream.close()
        except InputError as e:
            errors.append(str(e))
        if parser is not None:
            stats.add(parser.stats)
            warnings += _not_understood(name, parser.stats, fmt)
    on_results(pipeline.drain())
    return stats, errors, warnings


def _not_understood(name: str, s: Stats, fmt: str) -> list[str]:
    """A warning for a file that had lines, none of them understood (a
    layout or format authwatch does not read), else none."""
    if not s.lines or s.events or s.noise or s.unknown:
        return []
    what = f"{s.malformed:,} not in a layout authwatch reads" if s.malformed else ""
    if s.other:
        what += f"{', ' if what else ''}{s.other:,} from other programs than sshd"
    how = f"read as {fmt} (--format); " if fmt != "auto" else ""
    return [f"{name}: none of the {s.lines:,} line{'s' if s.lines != 1 else ''} read was understood ({what}); {how}authwatch reads syslog text "
            "(classic 'Nov 22 15:04:05[.123456] host sshd[123]: ...', RFC 3339, RFC 5424), "
            "'journalctl -o json' output, the PAM hook's records and ~/.ssh_logins, each recognised by its "
            "first line; replay --format names one"]


def _records_among(paths: Sequence[str], fmt: str) -> bool:
    """Whether some of the files hold the PAM hook's records (stdin and pipes
    are not looked at: what is read from them here would be lost)."""
    if fmt != "auto":
        return fmt == "hook-records"
    for path in paths:
        if path != "-" and os.path.isfile(path):
            try:
                with open_log(path) as stream:
                    if stream.read(len(records.PREFIX)) == records.PREFIX.encode():
                        return True
            except (InputError, OSError):
                pass
    return False
