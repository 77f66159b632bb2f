"""Syslog lines as files hold them: timestamp, host, tag, message.

Three layouts are read, each with the host kept per line (central logs):

    Nov 22 15:04:05 web1 sshd[123]: msg                      classic (RHEL, Debian <= 11)
    Nov 22 15:04:05.123456 web1 sshd[123]: msg               classic with a fraction (journalctl -o short-precise)
    2026-11-22T15:04:05.473997+00:00 web1 sshd-session[123]: msg   RFC 3339 (Debian 12+, Ubuntu 24.04+)
    <38>1 2026-11-22T15:04:05.466036+00:00 web1 sshd 123 - - msg    RFC 5424

The sshd tag with its pid is required: a line without it is not an sshd event,
however much its text looks like one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from authwatch.event import Event
from authwatch.parse import timestamps
from authwatch.sources.lines import MAX_LINE
from authwatch.parse.sshd import HOT_NOISE, HOT_SHAPES, MAX_MESSAGE, NOISE, UNKNOWN, handler_for

MALFORMED = "malformed"  # not a syslog line at all
OTHER = "other"  # a syslog line from another program

IDENTS = frozenset(("sshd", "sshd-session", "internal-sftp", "sftp-server"))
_ISO_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:[Zz]|[+-]\d\d:?\d\d)?", re.ASCII)
_CLASSIC_TS = re.compile(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ 0-3]\d) (\d\d):(\d\d):(\d\d)", re.ASCII)
_FRACTION = r"(?:\.[0-9]{1,9})?"  # of a second, after a classic timestamp
_CLASSIC_FRACTION = re.compile(_FRACTION, re.ASCII)
# RFC 5424 after "<PRI>1 ": TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA MSG
_RFC5424 = re.compile(r"(\S+) (\S+) (\S+) (\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: \ufeff?)? *(.*)")

def _fast_path(prefix: str) -> tuple[re.Pattern, dict[int, tuple]]:
    """One regex for a line prefix (4 groups: time, host, ident, pid) followed
    by any of sshd's HOT_SHAPES or HOT_NOISE, and, by the number of the group
    wrapping each shape, its builder, where its groups start and its kind
    (None for the noise)."""
    alternatives, specs, group = [], {}, 5
    for literal, pattern, builder, kind in HOT_SHAPES:
        body = re.sub(r"\(\?P<\w+>", "(", pattern)
        alternatives.append(f"({re.escape(literal)}{body})")
        specs[group] = (builder, group, kind)  # its groups start at g[group]
        group += re.compile(body).groups + 1
    alternatives.append(f"((?:{'|'.join(HOT_NOISE)}))")
    specs[group] = None
    return re.compile(prefix + "(?:" + "|".join(alternatives) + ")", re.ASCII), specs


_FAST_ISO, _FAST_SPECS = _fast_path(
    rf"({_ISO_TS.pattern}) (\S+) (sshd|sshd-session)\[([0-9]{{1,10}})\]: "
)
_FAST_CLASSIC, _ = _fast_path(  # same groups after the prefix, so the same specs
    r"((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}"
    rf"{_FRACTION}) (\S+) "
    r"(sshd|sshd-session)\[([0-9]{1,10})\]: "
)
# Any syslog line, to tell "another program" from "not syslog at all".
_ANY_LINE = re.compile(rf"(?:<\d{{1,3}}>1? ?)?(?:{_ISO_TS.pattern}|{_CLASSIC_TS.pattern}{_FRACTION}) \S+ \S")

MAX_EXAMPLES = 10


@dataclass
class Stats:
    """What a parser made of its lines, for `replay --stats`."""

    lines: int = 0
    events: int = 0
    noise: int = 0
    other: int = 0
    malformed: int = 0
    unknown: int = 0
    unknown_examples: list[str] = field(default_factory=list)

    def record(self, outcome: str, where: str, text: str) -> None:
        """Count a line that gave no event: NOISE, OTHER, UNKNOWN (with up to
        MAX_EXAMPLES examples, `where: text`) or MALFORMED."""
        if outcome is NOISE:
            self.noise += 1
        elif outcome is OTHER:
            self.other += 1
        elif outcome is UNKNOWN:
            self.unknown += 1
            if len(self.unknown_examples) < MAX_EXAMPLES:
                self.unknown_examples.append(f"{where}: {text[:300]}")
        else:
            self.malformed += 1

    def add(self, other: "Stats") -> None:
        for name in ("lines", "events", "noise", "other", "malformed", "unknown"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        room = MAX_EXAMPLES - len(self.unknown_examples)
        self.unknown_examples.extend(other.unknown_examples[:room])


class Parser:
    """Turns syslog lines into events. Pure: `now` (for the year of classic
    timestamps) and `tz` (the zone classic timestamps are written in) are given.
    """

    def __init__(self, now: datetime, tz: tzinfo, source: str | None = None):
        self.now = now
        self.tz = tz
        self.source = source
        self.stats = Stats()
        self._classic_cache: dict[str, datetime] = {}
        self._iso_last = ("", now)

    def parse(self, line: str, lineno: int = 1) -> Event | str:
        """One line (without its newline) to an Event, or to what it was:
        NOISE, UNKNOWN, OTHER or MALFORMED. Not counted in `self.stats`."""
        counted, self.stats = self.stats, Stats()
        try:
            events = self.parse_block(line, lineno)
            if events:
                return events[0]
            s = self.stats
            return NOISE if s.noise else OTHER if s.other else UNKNOWN if s.unknown else MALFORMED
        finally:
            self.stats = counted

    def parse_block(self, text: str, first_lineno: int) -> list[Event]:
        """Parse a block of lines joined by newlines, counting outcomes in
        `self.stats`.

        Most lines take the fast path: one regex (see _fast_path) for the
        prefix and the message shapes a brute-forced host logs most, handled
        inline here because this loop runs once per line. Everything else
        goes through _general."""
        stats = self.stats
        source = self.source
        general = self._general
        tz = self.tz
        classic_cache = self._classic_cache
        fast_iso, fast_classic, specs = _FAST_ISO.match, _FAST_CLASSIC.match, _FAST_SPECS
        fromiso = datetime.fromisoformat
        last_ts, last_time = self._iso_last
        out = []
        append = out.append
        lineno = first_lineno
        lines = text.split("\n")
        longest = max(map(len, lines))
        if longest > MAX_LINE:
            lines = [line if len(line) <= MAX_LINE else "" for line in lines]  # "" is malformed
        if longest > MAX_MESSAGE:  # such a line goes to _general, which finds it UNKNOWN (or not sshd's)
            fast_iso, fast_classic = _bounded(fast_iso), _bounded(fast_classic)
        noise = 0
        for line in lines:
            m = fast_iso(line)
            iso = m is not None
            if not iso:
                m = fast_classic(line)
            if m is not None:
                spec = specs[m.lastindex]  # type: ignore[index]
                if spec is None:
                    noise += 1
                    lineno += 1
                    continue
                g = m.groups()
                ts = g[0]
                if not iso:
                    time = classic_cache.get(ts) or (self._classic_time(ts) if len(ts) == 15 else self._fraction(ts))
                elif ts == last_ts:
                    time = last_time
                else:
                    try:
                        time = fromiso(ts)
                        if time.tzinfo is None:
                            time = time.replace(tzinfo=tz)
                        if not 1970 < time.year < 9000:  # timestamps.plausible, inline: this loop runs per line
                            time = None
                    except ValueError:
                        time = _rfc3339_or_none(ts, tz)
                    last_ts, last_time = ts, time
                if time is None:
                    r = MALFORMED
                else:
                    build, at, kind = spec
                    r = build(g, at, kind, g[2], int(g[3]), g[1], time, f"{source}:{lineno}")
            else:
                r = general(line, lineno)
            if r.__class__ is Event:
                append(r)
            else:
                stats.record(r, f"{source}:{lineno}", line)
            lineno += 1
        self._iso_last = (last_ts, last_time)
        stats.lines += len(lines)
        stats.events += len(out)
        stats.noise += noise
        return out

    def _general(self, line: str, lineno: int) -> Event | str:
        """Lines the fast path does not know: split by hand (several times
        faster than one regex per line, and as strict: every token is checked)."""
        c = line[:1]
        if "0" <= c <= "9":  # RFC 3339
            parts = line.split(" ", 3)
            if len(parts) != 4:
                return self._not_sshd(line)
            ts, host, tag, msg = parts
            ident, pid = _tag(tag)
            if ident is None or not host or ts[10:11] != "T" or ts[4:5] != "-":
                return self._not_sshd(line)
            handler = handler_for(msg, ident)
            if handler.__class__ is str:
                return handler  # type: ignore[return-value]
            last_ts, time = self._iso_last
            if ts != last_ts:
                if not _ISO_TS.fullmatch(ts):
                    return self._not_sshd(line)
                try:
                    time = timestamps.rfc3339(ts, self.tz)
                except ValueError:
                    return MALFORMED
                self._iso_last = (ts, time)
        elif c == "<":
            close = line.find(">", 1, 5)
            if close < 0 or not line[1:close].isdigit():
                return MALFORMED
            if line.startswith("1 ", close + 1):  # RFC 5424
                m = _RFC5424.match(line, close + 3)
                if m is None or m[3] not in IDENTS or not (m[4].isascii() and m[4].isdigit()) or not _ISO_TS.fullmatch(m[1]):
                    return self._not_sshd(line)
                ts, host, ident, pid, msg = m.groups()
                handler = handler_for(msg, ident)
                if handler.__class__ is str:
                    return handler  # type: ignore[return-value]
                try:
                    time = timestamps.rfc3339(ts, self.tz)
                except ValueError:
                    return MALFORMED
                if host == "-":
                    host = None
            else:  # a classic line with its priority kept
                return self._general(line[close + 1 :], lineno)
        else:  # classic
            end = line.find(" ", 15) if line[15:16] == "." else 15  # past a fraction of a second
            stamp = line[:end]
            if end < 0 or end > 25:
                return self._not_sshd(line)
            time = self._classic_cache.get(stamp)  # type: ignore[assignment]
            if time is None:
                if not _CLASSIC_TS.fullmatch(stamp[:15]) or not _CLASSIC_FRACTION.fullmatch(stamp, 15):
                    return self._not_sshd(line)
                time = self._classic_time(stamp) if end == 15 else self._fraction(stamp)
                if time is None:
                    return MALFORMED
            parts = line[end + 1 :].split(" ", 2)
            if len(parts) != 3 or line[end : end + 1] != " ":
                return self._not_sshd(line)
            host, tag, msg = parts
            ident, pid = _tag(tag)
            if ident is None or not host:
                return self._not_sshd(line)
            handler = handler_for(msg, ident)
            if handler.__class__ is str:
                return handler  # type: ignore[return-value]
        return handler(msg, ident, int(pid), host, time, f"{self.source}:{lineno}")  # type: ignore[operator]

    def _classic_time(self, stamp: str) -> datetime | None:
        """`Nov 22 15:04:05` (already known to have that shape) read in the
        parser's zone and year; cached, since many lines share a second."""
        m = _CLASSIC_TS.fullmatch(stamp)
        try:
            time = timestamps.classic(m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5]), self.now, self.tz)  # type: ignore[index]
        except ValueError:
            return None
        if len(self._classic_cache) > 4096:
            self._classic_cache.clear()
        self._classic_cache[stamp] = time
        return time

    def _fraction(self, stamp: str) -> datetime | None:
        """`Nov 22 15:04:05.123456` (already known to have that shape): the
        second from the cache, the fraction (to the microsecond) added."""
        second = stamp[:15]
        time = self._classic_cache.get(second) or self._classic_time(second)
        return None if time is None else time.replace(microsecond=int(stamp[16:22].ljust(6, "0")))

    @staticmethod
    def _not_sshd(line: str) -> str:
        return OTHER if _ANY_LINE.match(line) else MALFORMED


def _bounded(match: Callable[[str], re.Match | None]) -> Callable[[str], re.Match | None]:
    """`match` for lines no longer than MAX_MESSAGE; None for longer ones."""
    return lambda line: match(line) if len(line) <= MAX_MESSAGE else None


def _rfc3339_or_none(ts: str, tz: tzinfo) -> datetime | None:
    try:
        return timestamps.rfc3339(ts, tz)
    except ValueError:
        return None


def _tag(tag: str) -> tuple[str | None, str]:
    """`sshd[123]:` -> ("sshd", "123"); (None, "") for any other tag."""
    if tag[-2:] != "]:":
        return None, ""
    bracket = tag.find("[")
    ident = tag[:bracket]
    pid = tag[bracket + 1 : -2]
    if ident not in IDENTS or not (pid.isascii() and pid.isdigit()) or len(pid) > 10:
        return None, ""
    return ident, pid
