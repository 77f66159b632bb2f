"""Failed attempts counted over a sliding window, for `after_failures`.

A busy host logs hundreds of thousands of failures an hour, so counting one
must cost next to nothing: the window is cut into `STEPS` generations, each
plain dicts per host (by address, by user) that only ever get `+= 1`. A new
generation starts when the log's time passes the end of the current one; the
oldest is then dropped whole, which is what keeps memory bounded without any
sweeping. A count therefore covers between (STEPS-1)/STEPS of the window and
the whole of it. Each generation holds at most `MAX_KEYS` addresses and users
(a distributed attack beyond that is undercounted, never unbounded).

Failures of names that are not accounts (`invalid user`) count for the address
only: such a name can never log in.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from authwatch.event import Event

STEPS = 6
MAX_KEYS = 50_000


class _Generation:
    __slots__ = ("end", "hosts", "size")

    def __init__(self, end: datetime):
        self.end = end
        self.hosts: dict[str, tuple[dict[str, int], dict[str, int]]] = {}  # host -> (by address, by user)
        self.size = 0


class FailureWindow:
    def __init__(self, window: timedelta, fleet: bool = False):
        """`fleet`: count across hosts (history.scope fleet), not per host."""
        self.window = window
        self.step = window / STEPS
        self.fleet = fleet
        self._gens: deque[_Generation] = deque()
        self._current: _Generation | None = None

    def _advance(self, t: datetime) -> _Generation:
        """The generation `t` belongs to, starting new ones as time moves on."""
        current = self._current
        if current is None or t >= current.end + self.window:
            self._gens.clear()  # everything counted so far is out of the window
            current = self._current = _Generation(t + self.step)
            return current
        while t >= current.end:
            self._gens.append(current)
            current = _Generation(current.end + self.step)
        self._current = current
        oldest_start = t - self.window
        while self._gens and self._gens[0].end - self.step < oldest_start:
            self._gens.popleft()
        return current

    def add(self, e: Event) -> None:
        """Count one failure (this is called for every failure: keep it lean)."""
        t = e.time
        g = self._current
        if g is None or t >= g.end:
            g = self._advance(t)
        host = "" if self.fleet else (e.host or "")
        pair = g.hosts.get(host)
        if pair is None:
            pair = g.hosts[host] = ({}, {})
        # The two counts are written out rather than looped over: this runs
        # for every failure, and a loop costs more than the counting itself.
        counts = pair[0]
        key = e.ip
        try:
            counts[key] += 1
        except KeyError:
            if g.size < MAX_KEYS:
                counts[key] = 1
                g.size += 1
        if not e.invalid_user:
            counts = pair[1]
            key = e.user
            try:
                counts[key] += 1
            except KeyError:
                if g.size < MAX_KEYS:
                    counts[key] = 1
                    g.size += 1

    def count(self, e: Event) -> int:
        """Failures before `e` from its address or for its user, whichever is more."""
        if self._current is None:
            return 0
        current = self._advance(e.time)
        host = "" if self.fleet else (e.host or "")
        from_ip = for_user = 0
        for g in (*self._gens, current):
            pair = g.hosts.get(host)
            if pair is not None:
                from_ip += pair[0].get(e.ip, 0)  # type: ignore[arg-type]
                for_user += pair[1].get(e.user, 0)  # type: ignore[arg-type]
        return max(from_ip, for_user)

    def snapshot(self) -> list[tuple[str, str, str, str, int]]:
        """Every count as (generation end, host, "ip"/"user", key, n), to keep over a restart."""
        out = []
        for g in (*self._gens, *([self._current] if self._current else [])):
            end = g.end.isoformat()
            for host, (by_ip, by_user) in g.hosts.items():
                out.extend((end, host, "ip", k, n) for k, n in by_ip.items())
                out.extend((end, host, "user", k, n) for k, n in by_user.items())
        return out

    def restore(self, rows: list[tuple[str, str, str, str, int]]) -> None:
        """Take back a snapshot."""
        gens: dict[str, _Generation] = {}
        for end, host, which, key, n in rows:
            g = gens.get(end)
            if g is None:
                g = gens[end] = _Generation(datetime.fromisoformat(end))
            pair = g.hosts.setdefault(host, ({}, {}))
            pair[0 if which == "ip" else 1][key] = n
            g.size += 1
        ordered = sorted(gens.values(), key=lambda g: g.end)
        if ordered:
            self._current = ordered[-1]
            self._gens = deque(ordered[:-1])
