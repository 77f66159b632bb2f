"""A `summarize` rule's window: the events it counted, per address, user,
host and kind, until the window closes.

A window opens at the first event the rule matches and lasts the rule's
`window`; the next event after it opens the next one. Counting is exact for
the total; per address and user at most `KEEP` distinct values are told apart
(a botnet may use tens of thousands), the rest are counted as `OTHERS`.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

from authwatch.event import Event, Summary

KEEP = 10_000  # distinct values counted apart per field
TOP = 10  # shown in a summary, per field
OTHERS = "(others)"
_FIELDS = ("kinds", "ips", "users", "hosts")


class Tally:
    def __init__(self, start: datetime, length: timedelta):
        self.start = start
        self.end = start + length
        self.total = 0
        self.kinds: Counter[str] = Counter()
        self.ips: Counter[str] = Counter()
        self.users: Counter[str] = Counter()
        self.hosts: Counter[str] = Counter()

    def add(self, e: Event) -> None:
        self.total += 1
        self.kinds[e.kind] += 1
        _count(self.ips, e.ip)
        _count(self.users, e.user)
        _count(self.hosts, e.host)

    def summary(self) -> Summary:
        def top(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
            return tuple(counter.most_common(TOP))

        return Summary(self.start, self.end, self.total, top(self.kinds), top(self.ips), top(self.users),
                       top(self.hosts), len(self.ips), len(self.users))

    def host(self) -> str | None:
        """The one host counted, or None for several."""
        return next(iter(self.hosts)) if len(self.hosts) == 1 else None

    # -- in the state store ---------------------------------------------------

    def to_json(self) -> str:
        return json.dumps({"start": self.start.isoformat(), "end": self.end.isoformat(), "total": self.total,
                           **{f: dict(getattr(self, f)) for f in _FIELDS}}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Tally:
        d = json.loads(text)
        start, end = datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"])
        tally = cls(start, end - start)
        tally.total = int(d["total"])
        for f in _FIELDS:
            getattr(tally, f).update({str(k): int(n) for k, n in d.get(f, {}).items()})
        return tally


def _count(counter: Counter[str], value: str | None) -> None:
    if value in counter:
        counter[value] += 1
    elif value is not None:
        counter[value if len(counter) < KEEP else OTHERS] += 1
