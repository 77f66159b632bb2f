"""Weekly time windows: quiet hours, and the `time` condition of a rule.

A window is some days of the week and a time of day from-to, in the wall-clock
time of the configured zone: `{days: mon-fri, from: "22:00", to: "07:00"}`.
`from` later than `to` means overnight: the window starts on each of its days
and ends the next morning, so an overnight window belongs to its start day
(Friday's 22:00-07:00 ends on Saturday morning; Monday 03:00 is in Sunday's
window, if Sunday has one). Without `from` and `to`, the whole day. Clock
changes follow the wall clock: 22:00-07:00 lasts 8 hours on the night the
clocks go forward and 10 on the night they go back.

Every moment these functions return is in UTC, so that comparing two of them
never meets the naive comparison Python applies to datetimes of one zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import NamedTuple

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES = 24 * 60
_CLOCK = re.compile(r"^(\d{1,2}):(\d\d)$")


class Window(NamedTuple):
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight, up to 1440; not after `start`: the next day
    text: str  # "mon-fri 22:00-07:00", for explanations

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time `local` is in this window."""
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        return (weekday in self.days and minute >= self.start) or \
            ((weekday - 1) % 7 in self.days and minute < self.end)

    def end_after(self, local: datetime) -> datetime:
        """The wall-clock end (naive) of this window's occurrence that holds `local`."""
        day = local.date()
        if self.start >= self.end and local.hour * 60 + local.minute >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, time()) + timedelta(minutes=self.end)


def parse_days(value: object) -> frozenset[int]:
    """`mon-fri`, `sat`, `[sat, sun]`, `mon,wed,fri`, `fri-mon` (wraps), full
    names, `daily`; raises ValueError saying what is wrong."""
    items = value if isinstance(value, list) else [value]
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"expected days such as mon-fri, sat or [sat, sun], got {item!r}")
        for part in item.lower().replace(" ", "").split(","):
            if part in ("daily", "all", "every"):
                days.update(range(7))
            elif "-" in part:
                first, _, last = part.partition("-")
                a, b = _day(first), _day(last)
                days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
            else:
                days.add(_day(part))
    if not days:
        raise ValueError("expected at least one day, such as mon-fri or [sat, sun]")
    return frozenset(days)


def _day(text: str) -> int:
    for names in (DAYS, DAY_NAMES):
        if text in names:
            return names.index(text)
    raise ValueError(f"unknown day {text!r}; days are {', '.join(DAYS)} (or full names), e.g. mon-fri")


def parse_clock(value: object, midnight: bool = False) -> int:
    """`"07:00"` as minutes after midnight; `"24:00"` only with `midnight`."""
    m = _CLOCK.match(value) if isinstance(value, str) else None
    hours, minutes = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    if hours * 60 + minutes == MINUTES and midnight:
        return MINUTES
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValueError(f"expected a time of day HH:MM such as \"07:00\", got {value!r}")
    return hours * 60 + minutes


def window(days: frozenset[int], start: int | None, end: int | None) -> Window:
    """A window from parsed parts (ValueError if `from` equals `to`)."""
    start = 0 if start is None else start
    end = MINUTES if end is None else end
    if start == end:
        raise ValueError("from and to are the same time: leave both out for the whole day")
    return Window(days, start, end, f"{_say_days(days)} {_say_clock(start)}-{_say_clock(end)}"
                  if (start, end) != (0, MINUTES) else f"{_say_days(days)} all day")


def _say_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _say_days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "daily"
    ordered = sorted(days)
    runs: list[list[int]] = []
    for d in ordered:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in runs)


def covers_the_week(windows: Iterable[Window]) -> bool:
    """Whether the windows leave no minute of the week outside them."""
    covered = bytearray(7 * MINUTES)
    for w in windows:
        for d in w.days:
            first = d * MINUTES + w.start
            last = d * MINUTES + (w.end if w.start < w.end else w.end + MINUTES)
            for m in range(first, last):
                covered[m % (7 * MINUTES)] = 1
    return all(covered)


class Schedule:
    """Windows in a zone: is a moment in one, and when does it end."""

    def __init__(self, windows: Sequence[Window], tz: tzinfo):
        self.windows = tuple(windows)
        self.tz = tz

    def __bool__(self) -> bool:
        return bool(self.windows)

    def holding(self, t: datetime) -> list[Window]:
        """The windows `t` is in."""
        local = t.astimezone(self.tz)
        return [w for w in self.windows if w.contains(local)]

    def contains(self, t: datetime) -> bool:
        local = t.astimezone(self.tz)
        return any(w.contains(local) for w in self.windows)

    def end(self, t: datetime) -> datetime | None:
        """The first moment from `t` on that is in no window (`t` itself if
        it is in none); None if the windows never end."""
        current = t.astimezone(timezone.utc)
        for _ in range(2 * len(self.windows) + 8):
            local = current.astimezone(self.tz)
            ends = [w.end_after(local) for w in self.windows if w.contains(local)]
            if not ends:
                return current
            current = self._moment(max(ends), after=current)
        return None

    def next_start(self, t: datetime) -> datetime | None:
        """The first moment after `t` at which a window begins."""
        local = t.astimezone(self.tz)
        starts = [self._moment(datetime.combine(day, time()) + timedelta(minutes=w.start))
                  for day in _days_from(local.date(), 8) for w in self.windows if day.weekday() in w.days]
        later = [s for s in starts if s > t]
        return min(later) if later else None

    def next_clock(self, times: Iterable[int], t: datetime) -> datetime | None:
        """The first moment after `t` when the local clock reads one of
        `times` (minutes after midnight) outside every window."""
        local = t.astimezone(self.tz)
        for day in _days_from(local.date(), 9):
            for moment in sorted(self._moment(datetime.combine(day, time()) + timedelta(minutes=m)) for m in times):
                if moment > t and not self.contains(moment):
                    return moment
        return None

    def _moment(self, wall: datetime, after: datetime | None = None) -> datetime:
        """The UTC moment of the wall-clock time `wall`: the first of its two
        readings in the hour the clocks go back (the later one if only that is
        after `after`); a time the clocks skip is read with the offset before."""
        first = wall.replace(tzinfo=self.tz, fold=0).astimezone(timezone.utc)
        if after is None or first > after:
            return first
        return max(wall.replace(tzinfo=self.tz, fold=1).astimezone(timezone.utc), after + timedelta(minutes=1))


def _days_from(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(-1, n)]
