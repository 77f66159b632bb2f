"""Failed attempts counted over a sliding window, for `after_failures`.

A busy host logs hundreds of thousands of failures an hour, so counting one
must cost next to nothing. `add` only appends the event to a list; the list
is counted in one go (C-level `Counter.update` over `map`s, no Python per
event) when a login asks for a count or the pipeline saves (`flush`), so a
failure costs about an append. The window is cut into `STEPS` generations,
each a pair of Counters (by address, by user). A new generation starts when the log's time passes the end of
the current one; the oldest is then dropped whole, which keeps memory bounded
without any sweeping. A count therefore covers between (STEPS-1)/STEPS of the
window and the whole of it. A generation keeps at most `MAX_KEYS` addresses
and users: past that it is cut back to the most frequent half (a distributed
attack beyond that is undercounted, never unbounded), and only half as often
as it grows, so a botnet of a million addresses costs a cut per 25,000 new
ones, not one per batch.

Failures of names that are not accounts (`invalid user`) count for the address
only: such a name can never log in. A failure with no address (a line that
reads as coming from more than one, see parse.sshd) counts for its user only.
Counts span every host of a log (a central log's hosts share attackers),
whatever `history.scope`: keying them by host too would cost every failure a
tuple.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, deque
from datetime import datetime, timedelta
from itertools import compress
from operator import attrgetter, not_

from authwatch.event import Event

STEPS = 6
MAX_KEYS = 50_000
_TIME = attrgetter("time")
_IP = attrgetter("ip")
_USER = attrgetter("user")
_INVALID = attrgetter("invalid_user")


class _Generation:
    __slots__ = ("end", "by_ip", "by_user")

    def __init__(self, end: datetime):
        self.end = end
        self.by_ip: Counter = Counter()  # address -> failures
        self.by_user: Counter = Counter()  # user -> failures


class FailureWindow:
    def __init__(self, window: timedelta):
        self.window = window
        self.step = window / STEPS
        self._gens: deque[_Generation] = deque()
        self._current: _Generation | None = None
        self.pending: list[Event] = []  # added, not counted yet (callers may extend it)
        self.add = self.pending.append  # the whole cost of a failure

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

    def flush(self) -> None:
        """Count the failures added since the last flush."""
        pending = self.pending
        i, n = 0, len(pending)
        while i < n:
            g = self._advance(pending[i].time)
            j = max(bisect_left(pending, g.end, i, n, key=_TIME), i + 1)  # the events of this generation
            chunk = pending[i:j]
            g.by_ip.update(filter(None, map(_IP, chunk)))
            g.by_user.update(compress(map(_USER, chunk), map(not_, map(_INVALID, chunk))))
            for counts in (g.by_ip, g.by_user):
                if len(counts) > MAX_KEYS:
                    kept = counts.most_common(MAX_KEYS // 2)
                    counts.clear()
                    counts.update(dict(kept))
            i = j
        pending.clear()

    def count(self, e: Event) -> int:
        """Failures before `e` from its address or for its user, whichever is more."""
        self.flush()
        if self._current is None:
            return 0
        current = self._advance(e.time)
        gens = (*self._gens, current)
        return max(sum(g.by_ip.get(e.ip, 0) for g in gens), sum(g.by_user.get(e.user, 0) for g in gens))

    def snapshot(self) -> list[tuple[str, str, str, int]]:
        """Every count as (generation end, "ip"/"user", key, n), to keep over a restart."""
        self.flush()
        out = []
        for g in (*self._gens, *([self._current] if self._current else [])):
            end = g.end.isoformat()
            out.extend((end, "ip", key, n) for key, n in g.by_ip.items())
            out.extend((end, "user", key, n) for key, n in g.by_user.items())
        return out

    def restore(self, rows: list[tuple[str, str, str, int]]) -> None:
        """Take back a snapshot."""
        gens: dict[str, _Generation] = {}
        for end, which, key, n in rows:
            g = gens.get(end)
            if g is None:
                g = gens[end] = _Generation(datetime.fromisoformat(end))
            (g.by_ip if which == "ip" else g.by_user)[key] = n
        ordered = sorted(gens.values(), key=lambda g: g.end)
        if ordered:
            self._current = ordered[-1]
            self._gens = deque(ordered[:-1])
