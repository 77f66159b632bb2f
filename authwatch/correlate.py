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
  `session opened` line), and lets it go with `session: unknown` otherwise;
* joins the PAM hook's record of a login (kind `record`, parse/records.py)
  to the log's login of the same host, user, IP and client port within
  JOIN_WINDOW: one login, one alert, carrying the log's key fingerprint and
  session type and the hook's record. Whichever of the two comes first waits
  for the other for at most `hold`; a record no log line matched becomes a
  login of its own (the log may be unreadable, or lag), and a report that
  comes after its twin has gone out is only noted (a record) or marked
  `duplicate` (a logged login), never alerted twice.

Events leave in the order they came in: an event behind a held login waits
with it. The hold applies to a host only once that host has logged a session
line (at sshd's default LogLevel INFO there are none, so nothing waits), or to
every host once `hold_all()` was called: replay calls it when it sees session
lines ahead in its input, so even a file's first login gets its session type.
Waiting for the hook's record applies only to the hosts `pair()` names (a
hook is followed for them), and a record waits for the log only when logs
are followed: with one of the two sources alone, nothing waits for the other.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from authwatch import event as ev
from authwatch.event import Event

_MEMORY = 4096  # pending partial/key lines (and logins gone out, for late twins) kept before the oldest go
# Kinds the correlator joins; any other goes straight through when nothing waits.
_JOINED_KINDS = frozenset((ev.LOGIN, ev.SESSION, ev.PARTIAL, ev.KEY_FOUND, ev.RECORD))
JOIN_WINDOW = timedelta(seconds=10)  # a hook record and a logged login this close in time are one login
# What a held event still waits for.
_SESSION, _RECORD, _LOGIN = "session", "record", "login"


class _Held:
    __slots__ = ("event", "deadline", "ready", "waits")

    def __init__(self, event: Event, deadline: datetime | None, waits: frozenset[str] = frozenset()):
        self.event = event
        self.deadline = deadline
        self.ready = deadline is None
        self.waits = set(waits) if deadline is not None else set()


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
        self.hook_hosts: frozenset[str] = frozenset()  # host_key()s whose logins a PAM hook reports
        self.logs_followed = False  # a log that reports logins is read: records wait for it
        self.log_lag = timedelta(0)  # how much longer than `hold` a record waits for the log
        self._awaiting_record: dict[tuple, _Held] = {}  # pair key -> logged login held for its record
        self._records: dict[tuple, _Held] = {}  # pair key -> record held for its logged login
        self._gone: dict[str, OrderedDict[tuple, Event]] = {ev.LOGIN: OrderedDict(), ev.RECORD: OrderedDict()}

    def pair(self, hook_hosts: Iterable[str | None], logs_followed: bool, log_lag: timedelta = timedelta(0)) -> None:
        """A PAM hook reports the logins of `hook_hosts` (its spool is
        followed), and logs are followed (`logs_followed`): each of the two
        reports of a login waits for the other; a record `log_lag` longer
        than `hold` (the journal tells its readers in bursts)."""
        self.hook_hosts = frozenset(host_key(h) for h in hook_hosts)
        self.logs_followed = logs_followed
        self.log_lag = log_lag

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
            self._login(self._complete(event), now, self.hold if hold is None else hold)
        elif kind == ev.RECORD:
            self._record(event, now)
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

    def _login(self, login: Event, now: datetime, hold: timedelta) -> None:
        waits = set()
        if self.hold_always or login.host in self._session_hosts:
            waits.add(_SESSION)
        if self.hook_hosts:
            key = pair_key(login)
            record = self._records.get(key)
            if record is not None and _twins(record.event, login):
                # The record came first: the login takes its place in the queue.
                del self._records[key]
                record.waits.discard(_LOGIN)
                self._queue.append(_Held(record.event, None))
                record.event = _with_record(login, record.event)
                self._wait(record, waits & {_SESSION})
                return
            if _twins(self._gone[ev.RECORD].get(key), login):
                self._queue.append(_Held(login._replace(kind=ev.DUPLICATE), None))
                return
            if host_key(login.host) in self.hook_hosts and key[2] is not None:
                waits.add(_RECORD)
        if hold and waits:
            held = _Held(login, now + hold, frozenset(waits))
            self._wait(held, held.waits)
        else:
            held = _Held(login, None)
        self._queue.append(held)

    def _wait(self, held: _Held, waits: set[str]) -> None:
        """Let `held` (a login) wait for `waits`, or go if there is nothing to wait for."""
        held.waits = waits
        if not waits or held.deadline is None:
            self._unhold(held)
            return
        e = held.event
        if _SESSION in waits:
            self._by_conn[(e.host, e.ip, e.port)] = held
            self._by_user_ip[(e.host, e.user, e.ip)] = held
        if _RECORD in waits:
            self._awaiting_record[pair_key(e)] = held

    def _record(self, record: Event, now: datetime) -> None:
        key = pair_key(record)
        held = self._awaiting_record.get(key)
        if held is not None and _twins(held.event, record):
            del self._awaiting_record[key]
            held.event = _with_record(held.event, record)
            held.waits.discard(_RECORD)
            if not held.waits:
                self._unhold(held)
        elif _twins(self._gone[ev.LOGIN].get(key), record):
            pass  # its login has gone out already: the record is only noted
        elif self.hold and self.logs_followed and key[2] is not None:
            held = _Held(record, now + self.hold + self.log_lag, frozenset((_LOGIN,)))
            self._records[key] = held
            self._queue.append(held)
            return
        else:
            record = record._replace(kind=ev.LOGIN)  # nothing will report it otherwise
        self._queue.append(_Held(record, None))

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
                self._expire(held)
            q.popleft()
            out.append(self._leaving(held.event))
        return out

    def drain(self) -> list[Event]:
        """Release everything (end of input, shutdown)."""
        for held in self._queue:
            if not held.ready:
                self._expire(held)
        out = [self._leaving(h.event) for h in self._queue]
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
        if held is None or held.ready or _SESSION not in held.waits:
            return
        login = held.event
        held.event = login._replace(session=session.session, tty=session.tty, detail=session.detail or login.detail)
        held.waits.discard(_SESSION)
        if not held.waits:
            self._unhold(held)

    def _unhold(self, held: _Held) -> None:
        held.ready = True
        e = held.event
        if self._by_conn.get((e.host, e.ip, e.port)) is held:
            del self._by_conn[(e.host, e.ip, e.port)]
        if self._by_user_ip.get((e.host, e.user, e.ip)) is held:
            del self._by_user_ip[(e.host, e.user, e.ip)]
        key = pair_key(e)
        if self._awaiting_record.get(key) is held:
            del self._awaiting_record[key]
        if self._records.get(key) is held:
            del self._records[key]

    def _expire(self, held: _Held) -> None:
        """The hold ran out: a record no logged login came for is a login."""
        if _LOGIN in held.waits:
            held.event = held.event._replace(kind=ev.LOGIN)
        self._unhold(held)

    def _leaving(self, e: Event) -> Event:
        if e.kind == ev.LOGIN:
            if e.session is None:
                e = e._replace(session=ev.UNKNOWN)
            if self.hook_hosts:  # its twin, if it comes later, must not alert again
                gone = self._gone[ev.RECORD if e.ident == ev.HOOK_IDENT else ev.LOGIN]
                gone[pair_key(e)] = e
                if len(gone) > _MEMORY:
                    gone.popitem(last=False)
        return e


def host_key(host: str | None) -> str | None:
    """A host as both reports name it: syslog writes the short name, the
    hook's record the machine's own (maybe fully qualified) one."""
    if host is None or ":" in host or host.replace(".", "").isdigit():
        return host
    return host.split(".", 1)[0].lower()


def pair_key(e: Event) -> tuple:
    return host_key(e.host), e.ip, e.port


def _twins(a: Event | None, b: Event) -> bool:
    """Two reports of one login: a record and a logged login of the same
    connection and user, close in time."""
    return a is not None and a.user == b.user and a.port is not None and abs(a.time - b.time) <= JOIN_WINDOW


def _with_record(login: Event, record: Event) -> Event:
    """The logged login, with the hook's record and whatever the log did
    not say (a key the log did not name)."""
    if login.key is None and record.key is not None:
        login = login._replace(key=record.key, key_type=record.key_type, cert=record.cert)
    return login._replace(record=record.record, methods=login.methods or record.methods,
                          method=login.method or record.method)
