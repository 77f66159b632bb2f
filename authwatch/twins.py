"""One report per sshd line when the journal and a text log both carry it.

With rsyslog (or syslog-ng) beside journald, every line sshd logs lands twice:
in the journal, and, forwarded, in /var/log/auth.log. Followed from both, each
login would alert twice, and a forged line, which only the journal exposes,
would alert once as a forgery and once, from the text log, as a login.

The two reports of one line agree on what sshd wrote: the kind of line, its
process id, user, address, port and method. They do not agree on the time
(journald's receive time to the microsecond; rsyslog's own, or the second
only in the classic layout) nor always on the host name (one may be fully
qualified). They are paired on (kind, host name up to its first dot, pid,
user, address, port, method), a forgery counting as the kind it claims, with
times at most WINDOW apart; each report pairs with at most one of the other
side, so a connection that fails three passwords (three identical lines)
keeps three failures.

The journal's report wins, because it knows who wrote the line:

* a text report of a host the journal speaks for (this machine, or a host
  name the journal has reported) waits up to `hold` for its journal twin and
  is dropped when the twin comes; while the journal is still being read
  (a catch-up after a restart comes in many batches, each within `hold` of
  the last), it waits until the journal is past its time or falls quiet, so
  a backlog read from the text log first cannot outrun its twins;
* a text report whose journal twin came first is dropped at once;
* a journal report whose text twin was let out already (its hold ran out) is
  dropped, unless it is a forgery: that alert is never swallowed;
* text reports of other hosts (a central log) go on at once.

Reports leave in the order they came (the pipeline acknowledges positions by
counting events); a dropped one leaves as a tombstone of kind TWIN, which the
pipeline counts and discards. Reports already read before the sources'
starting points are learnt (`learn`), so a line read again by one source
after a crash finds its twin from the other.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from authwatch import event as ev
from authwatch.event import Event

TWIN = "twin"  # the kind of a dropped report (never leaves the pipeline)
HOLD = timedelta(seconds=1)  # journald tells readers of new entries within 250 ms
WINDOW = timedelta(seconds=2)  # the two times of one line: classic timestamps are whole seconds
MEMORY = 65536  # unpaired reports remembered (a backlog of one source is read whole before the other's)
_HOOKS = frozenset((ev.HOOK_IDENT, ev.PROFILE_IDENT))


class _Report:
    __slots__ = ("event", "journal", "deadline", "ready")

    def __init__(self, event: Event, journal: bool, deadline: datetime | None):
        self.event = event
        self.journal = journal
        self.deadline = deadline
        self.ready = deadline is None


class Twins:
    def __init__(self, hold: timedelta = HOLD):
        self.hold = hold
        self.hosts = {_short(socket.gethostname())}  # the hosts whose lines the journal carries
        self._queue: deque[_Report] = deque()
        self._unpaired: dict[tuple, deque[_Report]] = {}
        self._memory: deque[tuple[tuple, _Report]] = deque()
        self._journal_at: datetime | None = None  # when the journal's last report came (wall clock)
        self._journal_upto: datetime | None = None  # the newest time among its reports

    def feed_all(self, events: Iterable[Event], now: datetime, journal: bool) -> list[Event]:
        """Take one source's events; return those now ready, in input order
        (dropped ones as tombstones)."""
        for e in events:
            self._feed(e, now, journal)
            if journal and (self._journal_upto is None or e.time > self._journal_upto):
                self._journal_upto = e.time
        if journal and events:
            self._journal_at = now
        return self.flush(now)

    def learn(self, events: Iterable[Event], journal: bool) -> None:
        """Take note of reports made before following began."""
        for e in events:
            if journal:
                self.hosts.add(_short(e.host))
            self._remember(_key(e), _Report(e, journal, None))

    def flush(self, now: datetime) -> list[Event]:
        """Release what is ready or whose hold has run out by `now`."""
        out = []
        q = self._queue
        while q and (q[0].ready or self._due(q[0]) <= now or self._passed(q[0])):
            report = q.popleft()
            report.ready = True  # gone: a twin coming later is the one dropped
            out.append(report.event)
        return out

    def drain(self) -> list[Event]:
        for report in self._queue:
            report.ready = True
        out = [r.event for r in self._queue]
        self._queue.clear()
        return out

    def next_deadline(self) -> datetime | None:
        q = self._queue
        return self._due(q[0]) if q and not q[0].ready else None

    def _due(self, report: _Report) -> datetime:
        """When a held text report goes without its twin: at its deadline,
        or, while the journal is still speaking, `hold` after its last word."""
        assert report.deadline is not None
        if self._journal_at is None:
            return report.deadline
        return max(report.deadline, self._journal_at + self.hold)

    def _passed(self, report: _Report) -> bool:
        """The journal has been read past the time of a held text report:
        its twin, if there was one, would have come."""
        upto = self._journal_upto
        return upto is not None and upto > report.event.time + WINDOW

    def _feed(self, e: Event, now: datetime, journal: bool) -> None:
        if e.ident in _HOOKS:  # a hook's report is no logged line: the journal has no twin of it
            self._queue.append(_Report(e, journal, None))
            return
        key = _key(e)
        twin = self._pair(key, e.time, journal)
        if journal:
            self.hosts.add(_short(e.host))
        report = _Report(e, journal, None)
        if twin is None:
            if not journal and self.hold and _short(e.host) in self.hosts:
                report.deadline, report.ready = now + self.hold, False
            self._remember(key, report)
        elif not journal:
            report.event = e._replace(kind=TWIN)  # the journal's came first
        elif not twin.ready:
            twin.event, twin.ready = twin.event._replace(kind=TWIN), True  # a held text report
        elif e.kind != ev.FORGED:
            report.event = e._replace(kind=TWIN)  # the text report went out already
        self._queue.append(report)

    def _pair(self, key: tuple, time: datetime, journal: bool) -> _Report | None:
        waiting = self._unpaired.get(key)
        if waiting:
            for other in waiting:
                if other.journal != journal and abs(other.event.time - time) <= WINDOW:
                    waiting.remove(other)
                    if not waiting:
                        del self._unpaired[key]
                    return other
        return None

    def _remember(self, key: tuple, report: _Report) -> None:
        self._unpaired.setdefault(key, deque()).append(report)
        memory = self._memory
        memory.append((key, report))
        if len(memory) > MEMORY:
            old_key, old = memory.popleft()
            waiting = self._unpaired.get(old_key)
            if waiting and old in waiting:
                waiting.remove(old)
                if not waiting:
                    del self._unpaired[old_key]


def _key(e: Event) -> tuple:
    kind = e.forged.claimed_kind if e.forged is not None else e.kind
    return (kind, _short(e.host), e.pid, e.user, e.ip, e.port, e.method)


def _short(host: str | None) -> str:
    return (host or "").split(".", 1)[0].lower()
