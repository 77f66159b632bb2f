"""Syslog timestamps: classic BSD (no year, no zone) and RFC 3339.

Pure functions: the "now" used to infer a classic timestamp's year and the zone
it is read in are arguments, never the clock.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_FUTURE_SLACK = timedelta(days=1)
_ISO_FIX = re.compile(r"^(.{19})(?:[.,](\d+))?(Z|z|[+-]\d\d:?\d\d)?$")


def plausible(t: datetime) -> bool:
    """Whether `t` can be a log's time: between 1970 and 9000. Anything else
    (a forged `9999-12-31T23:59:59-23:59`) would overflow when shown in
    another zone, and is no login time anyway."""
    return 1970 < t.year < 9000


def classic(month: str, day: int, hour: int, minute: int, second: int, now: datetime, tz: tzinfo) -> datetime:
    """`Nov 22 15:04:05` read in `tz`, in the latest year that is not more than a
    day after `now` (so a December line read in January lands in last year)."""
    mon = MONTHS[month]
    year = now.year + 1  # start one ahead: a log may run slightly ahead of `now`
    for _ in range(9):  # Feb 29 needs up to eight years back to find a leap year
        try:
            dt = datetime(year, mon, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            year -= 1
            continue
        if dt <= now + _FUTURE_SLACK:
            return dt
        year -= 1
    raise ValueError(f"no year fits {month} {day}")


def rfc3339(text: str, tz: tzinfo) -> datetime:
    """`2026-11-22T15:14:39.473997+00:00` and its variants (Z, 3 or 9 digit
    fractions, no offset: then read in `tz`)."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        # Python 3.10's fromisoformat knows only 3 or 6 digit fractions and no Z.
        m = _ISO_FIX.match(text)
        if m is None:
            raise
        base, frac, off = m.groups()
        frac = "." + (frac + "000000")[:6] if frac else ""
        off = "+00:00" if off in ("Z", "z") else (off or "")
        if off and ":" not in off:
            off = off[:3] + ":" + off[3:]
        dt = datetime.fromisoformat(base + frac + off)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    if not plausible(dt):
        raise ValueError(f"not a log's time: {text}")
    return dt
