"""Joining the lines sshd writes about one login into one login event.

sshd's root monitor logs `Partial` (first factors), `Accepted key ... found at`
and `Accepted`; the user's own child process, with another pid, logs
`Starting session: shell|command|subsystem ...` a moment later (only at
LogLevel VERBOSE). The correlator

* folds `Partial` lines into the login of the same monitor pid, so a
  multi-factor login lists every method and the key of its publickey factor;
* names where the key was found (`key_location`);
* holds a login for at most `hold` for its session line, joined by host, IP
  and client port (or host, user and IP for an sftp server's
  `session opened` line), and lets it go with `session: unknown` otherwise.

Events leave in the order they came in: an event behind a held login waits
with it. The hold applies to a host only once that host has logged a session
line (at sshd's default LogLevel INFO there are none, so nothing waits), or to
every host once `hold_all()` was called: replay calls it when it sees session
lines ahead in its input, so even a file's first login gets its session type.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from authwatch import event as ev
from authwatch.event import Event

_MEMORY = 4096  # pending partial/key lines kept per kind before the oldest go
# Kinds the correlator joins; any other goes straight through when nothing waits.
_JOINED_KINDS = frozenset((ev.LOGIN, ev.SESSION, ev.PARTIAL, ev.KEY_FOUND))


class _Held:
    __slots__ = ("event", "deadline", "ready")

    def __init__(self, event: Event, deadline: datetime | None):
        self.event = event
        self.deadline = deadline
        self.ready = deadline is None


class Correlator:
    def __init__(self, hold: timedelta):
        self.hold = hold
        self.hold_always = False
        self._queue: deque[_Held] = deque()
        self._by_conn: dict[tuple, _Held] = {}  # (host, ip, port) -> held login
        self._by_user_ip: dict[tuple, _Held] = {}  # (host, user, ip) -> held login
        self._partials: OrderedDict[tuple, list[Event]] = OrderedDict()  # (host, pid) -> Partial events
        self._keys: OrderedDict[tuple, str] = OrderedDict()  # (host, pid, fingerprint) -> location
        self._session_hosts: set[str | None] = set()

    def hold_all(self) -> None:
        """Hold logins of every host, not only of hosts already seen logging
        session lines."""
        self.hold_always = True

    def feed_all(self, events: list[Event], now: datetime | None, hold: timedelta | None = None) -> list[Event]:
        """Take events in order; return those now ready, in input order.
        `now` None means each event's own time (replay: log time). `hold`:
        how long these events' logins wait, if not `self.hold`."""
        out: list[Event] = []
        queue = self._queue
        feed = self.feed
        partials = self._partials
        for e in events:
            if not queue and e.kind not in _JOINED_KINDS:
                if partials and e.kind == ev.DISCONNECT:
                    partials.pop((e.host, e.pid), None)
                out.append(e)  # nothing to join and nothing waiting: straight through
            else:
                out.extend(feed(e, e.time if now is None else now, hold))
        return out

    def feed(self, event: Event, now: datetime, hold: timedelta | None = None) -> list[Event]:
        """Take one event; return the events now ready, in input order."""
        kind = event.kind
        if kind == ev.LOGIN:
            event = self._complete(event)
            wait = self.hold if hold is None else hold
            deadline = now + wait if wait and (self.hold_always or event.host in self._session_hosts) else None
            held = _Held(event, deadline)
            if deadline is not None:
                self._by_conn[(event.host, event.ip, event.port)] = held
                self._by_user_ip[(event.host, event.user, event.ip)] = held
            self._queue.append(held)
        elif kind == ev.SESSION and event.session is not None:
            if event.port is not None:
                self._session_hosts.add(event.host)
                self._join(self._by_conn.pop((event.host, event.ip, event.port), None), event)
            else:
                self._join(self._by_user_ip.pop((event.host, event.user, event.ip), None), event)
            self._queue.append(_Held(event, None))
        elif kind == ev.PARTIAL:
            self._partials.setdefault((event.host, event.pid), []).append(event)
            if len(self._partials) > _MEMORY:
                self._partials.popitem(last=False)
            self._queue.append(_Held(event, None))
        elif kind == ev.KEY_FOUND:
            self._keys[(event.host, event.pid, event.key)] = event.key_location  # type: ignore[assignment]
            if len(self._keys) > _MEMORY:
                self._keys.popitem(last=False)
            self._queue.append(_Held(event, None))
        else:
            if kind == ev.DISCONNECT:
                self._partials.pop((event.host, event.pid), None)
            self._queue.append(_Held(event, None))
        return self.flush(now)

    def learn(self, events: Iterable[Event]) -> None:
        """Take note of events logged before following began: a host that
        logged session lines then holds its logins from now on."""
        for e in events:
            if e.kind == ev.SESSION and e.session is not None and e.port is not None:
                self._session_hosts.add(e.host)

    def flush(self, now: datetime) -> list[Event]:
        """Release what is ready or whose hold has run out by `now`."""
        out = []
        q = self._queue
        while q:
            held = q[0]
            if not held.ready:
                if held.deadline is not None and held.deadline > now:
                    break
                self._unhold(held)
            q.popleft()
            out.append(_finished(held.event))
        return out

    def drain(self) -> list[Event]:
        """Release everything (end of input, shutdown)."""
        out = [_finished(h.event) for h in self._queue]
        self._queue.clear()
        self._by_conn.clear()
        self._by_user_ip.clear()
        return out

    def next_deadline(self) -> datetime | None:
        """When the oldest held login must go out at the latest."""
        return self._queue[0].deadline if self._queue and not self._queue[0].ready else None

    def _complete(self, login: Event) -> Event:
        """Add the first factors (Partial lines) and the key location."""
        partials = self._partials.pop((login.host, login.pid), None)
        if partials:
            methods = tuple(p.method for p in partials) + login.methods
            keyed = next((p for p in partials if p.key), None)
            if login.key is None and keyed is not None:
                login = login._replace(key=keyed.key, key_type=keyed.key_type, cert=keyed.cert)
            login = login._replace(methods=methods)
        if login.key is not None:
            location = self._keys.pop((login.host, login.pid, login.key), None)
            if location is not None:
                login = login._replace(key_location=location)
        return login

    def _join(self, held: _Held | None, session: Event) -> None:
        if held is None or held.ready:
            return
        login = held.event
        held.event = login._replace(session=session.session, tty=session.tty, detail=session.detail or login.detail)
        self._unhold(held)

    def _unhold(self, held: _Held) -> None:
        held.ready = True
        e = held.event
        if self._by_conn.get((e.host, e.ip, e.port)) is held:
            del self._by_conn[(e.host, e.ip, e.port)]
        if self._by_user_ip.get((e.host, e.user, e.ip)) is held:
            del self._by_user_ip[(e.host, e.user, e.ip)]


def _finished(event: Event) -> Event:
    if event.kind == ev.LOGIN and event.session is None:
        return event._replace(session=ev.UNKNOWN)
    return event
