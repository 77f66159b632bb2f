"""authwatch's own notices: a daily heartbeat, a target that has failed for
too long (and when it works again), a watched source that has gone silent.

Silent failure was the weak point of login hook scripts: a mail setup that
broke months ago looks exactly like a quiet server. Each notice is an alert in
the outbox (event kind `notice`), so it is delivered, retried and shown by
`authwatch outbox` like any other; a notice about a failing target goes to
every other target.

`check_silent_sources` and `check_heartbeat` are plain functions over the
store: `Delivery` calls them (the first with the sources the service follows
now) about every 30 s while running, and at the start
of `run_once`; a service loop may call them itself. Each tells once per
occasion (the marks live in the store's `health` table), so calling them
often is harmless.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta, timezone, tzinfo

from authwatch.alert import Alert
from authwatch.config import Settings
from authwatch.event import Event
from authwatch.store import Store, TargetState

NOTICE = "notice"
HEARTBEAT_MARK = "heartbeat"


def notice(rule: str, detail: str, lines: Iterable[str], severity: str, targets: Iterable[str], now: float,
           tz: tzinfo | None = None) -> Alert:
    """A notice alert from authwatch itself (not from a log line)."""
    event = Event(NOTICE, datetime.fromtimestamp(now, tz or timezone.utc), socket.gethostname(), detail=detail)
    key = hashlib.sha256(f"{rule}\x1f{now!r}\x1f{detail}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return Alert(key, event, severity, rule, list(lines), tuple(targets))


def target_failing(state: TargetState, others: Iterable[str], now: float, tz: tzinfo) -> Alert:
    since = state.failing_since or now
    return notice(
        "target failing",
        f"target {state.name} has failed for {duration(now - since)}",
        [f"Every attempt since {_local(since, tz)} failed ({state.failures} in a row); alerts for "
         f"{state.name} wait in the outbox and are retried.",
         f"Last error: {state.last_error or '?'}",
         "Check it with: authwatch test-notify " + state.name],
        "high", others, now, tz)


def target_recovered(state: TargetState, others: Iterable[str], now: float, tz: tzinfo) -> Alert:
    since = state.failing_since or now
    return notice(
        "target recovered",
        f"target {state.name} works again",
        [f"It failed from {_local(since, tz)} for {duration(now - since)}; what waited is being delivered now."],
        "info", others, now, tz)


def silent_sources(store: Store, after: float, now: float, sources: Collection[str]) -> list[tuple[str, float]]:
    """(source, last advanced) for each of `sources` silent for longer than
    `after` seconds. The store keeps the position of every source ever read,
    also of those no longer configured: only `sources` are looked at."""
    return [(source, updated) for source, updated in store.positions_updated()
            if source in sources and now - updated > after]


def check_silent_sources(store: Store, settings: Settings, now: float, sources: Collection[str]) -> list[Alert]:
    """Queue a notice for each of `sources` silent for longer than
    `delivery.source_silent_after` (once per silence); returns them.
    `sources`: the log files and journals followed now (Service.log_sources),
    never the PAM hook's spool or ~/.ssh_logins, which grow only with logins."""
    after = settings.delivery.source_silent_after
    if after is None or not settings.targets:
        return []
    queued = []
    for source, updated in silent_sources(store, after, now, sources):
        mark = f"silent:{source}"
        if store.health_mark(mark) == updated:
            continue  # already told about this silence
        queued.append(notice(
            "source silent",
            f"no new lines in {source} for {duration(now - updated)}",
            [f"The last line was read at {_local(updated, settings.tz)}. A log that stops growing can mean "
             "that logging broke (rsyslog stopped, the file was moved) rather than a quiet server.",
             "authwatch says so again if it stays silent after the next line."],
            "high", settings.targets, now, settings.tz))
        store.enqueue(queued[-1:])
        store.set_health_mark(mark, updated)
    return queued


def check_heartbeat(store: Store, settings: Settings, now: float) -> Alert | None:
    """Queue the daily heartbeat if its time (`delivery.heartbeat`, HH:MM
    local) has come since the last one; the first check only starts the clock."""
    at = settings.delivery.heartbeat
    if at is None or not settings.targets:
        return None
    last = store.health_mark(HEARTBEAT_MARK)
    due = last_occurrence(at, now, settings.tz)
    if last is not None and last >= due:
        return None
    store.set_health_mark(HEARTBEAT_MARK, now)
    if last is None:
        return None
    counts = store.outbox_counts()
    lines = [f"Since {_local(last, settings.tz)}: {store.sent_since(last)} messages delivered."]
    for state in sorted(store.target_states(), key=lambda s: s.name):
        if state.name not in settings.targets:
            continue
        waiting = sum(n for s, n in counts.get(state.name, {}).items() if s in ("pending", "held", "failed"))
        health = (f"failing since {_local(state.failing_since, settings.tz)}: {state.last_error}"
                  if state.failing_since else "ok")
        lines.append(f"{state.name}: {health}; {waiting} waiting, {counts.get(state.name, {}).get('dead', 0)} dead")
    alert = notice("heartbeat", f"authwatch on {socket.gethostname()} is watching", lines, "info",
                   settings.targets, now, settings.tz)
    store.enqueue([alert])
    return alert


def last_occurrence(hhmm: str, now: float, tz: tzinfo) -> float:
    """The latest moment not after `now` when the local clock read `hhmm`."""
    hour, minute = map(int, hhmm.split(":"))
    local = datetime.fromtimestamp(now, tz)
    at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at > local:
        at = (local - timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at.timestamp()


def duration(seconds: float) -> str:
    """`2 h 5 min`, `3 days 4 h`, `45 s`."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 >= 60 else "")
    return f"{s // 86400} day{'s' if s >= 172800 else ''}" + (f" {s % 86400 // 3600} h" if s % 86400 >= 3600 else "")


def _local(when: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(when, tz).strftime("%Y-%m-%d %H:%M %Z")
