"""The one path every event takes after parsing: correlate, enrich, decide,
queue. Replay and the follower both drive it, so what `replay` shows is what
the service does.

Enrichers are plain callables `Event -> Event`, applied in order to every
event that leaves the correlator (failures included). One that also has
`enrich_all(list[Event]) -> list[Event]` is given each batch whole instead:
half a million calls a second cost more than the enrichment of most events. One that keeps state
in the store (history) also has `changes(final) -> HistoryChanges | None` and
`saved(changes)`: what it changed is written in the same transaction as the
alerts and the positions, then acknowledged; a failed write keeps it for the
next one. The rules engine keeps state the same way (cooldowns, alerts held
for the digest, summary windows), and also makes alerts of its own as time
passes (summaries, digests): in a replay when the events' time passes their
moment, and at the end of input; in the service when `tick(now)` is called
with the wall clock.

Positions are acknowledged end to end. A source hands in each batch of
events with the position it reached after them; that position is written
(in the same transaction as the batch's alerts) only once every event of the
batch, and of every batch before it, has left the correlator. A login held
for its session line therefore keeps the saved position before its batch: a
crash during the hold re-reads it, and the stable alert id makes the re-read
harmless. Positions of batches that raised no alert are written lazily (at
most every `position_interval` seconds, and on `flush()`): re-reading a few
lines without alerts after a crash costs nothing, an fsync per line does.

When the service follows the systemd journal and a text log carrying the
same lines, `pair_reports(True)` puts twins.py before the correlator: each
line reported by both leaves once, as the journal reported it.

If the store cannot be written (disk full, database locked), the alerts and
positions stay here, StoreError is raised, and every later call writes them
first: nothing is skipped, and the saved positions never pass an alert that
is not in the outbox.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from authwatch.alert import Alert
from authwatch.config import Settings
from authwatch.correlate import Correlator
from authwatch.event import Event, event_id
from authwatch.rules import IGNORE, Decision
from authwatch.rules.engine import Engine, Output
from authwatch.store import Position, Store
from authwatch.twins import TWIN, Twins

Enricher = Callable[[Event], Event]
# journald tells its readers of new entries in bursts (every 250 ms at most):
# a login's session line, logged 50 ms after it, may come a burst or two later.
JOURNAL_LAG = timedelta(milliseconds=500)


class Result(NamedTuple):
    """One event that left the pipeline, what was decided, and its alert."""

    event: Event
    decision: Decision
    alert: Alert | None


class Pipeline:
    def __init__(
        self,
        store: Store,
        *,
        targets: Sequence[str] = (),
        hold: timedelta = timedelta(0),
        enrichers: Sequence[Enricher] = (),
        log_time: bool = False,
        report_all: bool = True,
        queue: bool = True,
        rules: Engine | None = None,
        explain: bool = False,
        position_interval: float = 5.0,
        on_queued: Callable[[Alert], None] | None = None,
    ):
        """`targets`: the targets alerts may be delivered to (an alert goes
        to those of them its rule names). `log_time`: holds are measured in the
        events' own time, and the end of input sends what the rules still
        hold (replay), not the wall clock (follow). `report_all`: return every
        event that left the pipeline, not only those that alerted. `queue`:
        decide and put alerts in the outbox (False: `learn`, which only fills
        history and must not touch the rules' state). `rules`: the engine
        (default: the built-in policy; a reload may assign `pipeline.rules` a
        new Engine between two batches, after `flush()`: its state is in the
        store). `explain`: decisions carry their trace. `on_queued`: called
        with each alert once it is in the outbox, and only if it was new there
        (not for one read again after a crash)."""
        self.store = store
        self.report_all = report_all
        self.queue = queue
        self.targets = tuple(targets)
        self.correlator = Correlator(hold)
        self.twins: Twins | None = None  # see pair_reports()
        self._tombstones = False  # reports dropped as twins may be on their way
        self._set_enrichers(enrichers)
        # Without an engine: the built-in policy, alerting every target given.
        self.rules = rules if rules is not None else Engine(Settings(file=None, state=store.path,
                                                                     targets=dict.fromkeys(self.targets, {})))
        self.explain = explain
        self.log_time = log_time
        self.position_interval = position_interval
        self.on_queued = on_queued
        self.queued = 0  # alerts that were new to the outbox, in total
        self._fed = 0  # events taken in, in total
        self._released = 0  # events that left the correlator, in total
        self._batches: deque[tuple[int, Position]] = deque()  # (events fed by the batch's end, position)
        self._positions: dict[str, Position] = {}  # acknowledged, not yet written
        self._alerts: list[Alert] = []  # decided, not yet written
        self._written_at = time.monotonic()

    def reconfigure(self, *, targets: Sequence[str], hold: timedelta, enrichers: Sequence[Enricher],
                    rules: Engine) -> None:
        """New settings (SIGHUP), keeping what is in flight and what the
        correlator has learnt. Flush first: the old enrichers' and rules'
        unsaved state goes with them."""
        self.targets = tuple(targets)
        self.correlator.hold = hold
        self._set_enrichers(enrichers)
        self.rules = rules

    def _set_enrichers(self, enrichers: Sequence[Enricher]) -> None:
        self.enrichers = tuple(enrichers)
        self._batch = [e.enrich_all for e in self.enrichers if hasattr(e, "enrich_all")]
        self._each = tuple(e for e in self.enrichers if not hasattr(e, "enrich_all"))
        self._stateful = [e for e in self.enrichers if hasattr(e, "changes")]

    def feed(self, events: Iterable[Event], now: datetime | None = None, position: Position | None = None,
             journal: bool = False) -> list[Result]:
        """Run parsed events through and queue their alerts. `position`: where
        the events' source is once these events are done with. `journal`: they
        come from the systemd journal (see pair_reports)."""
        events = list(events)
        self._fed += len(events)
        if position is not None:
            self._batches.append((self._fed, position))
        if self.twins is not None:
            events = self.twins.feed_all(events, now, journal)  # type: ignore[arg-type]
        hold = self.correlator.hold + JOURNAL_LAG if journal and self.correlator.hold else None
        ready = self.correlator.feed_all(events, None if self.log_time else now, hold)
        return self._finish(ready)

    def learn(self, events: Iterable[Event], journal: bool = False) -> None:
        """Let the correlator know what a source logged before it was followed
        (whether its hosts log session lines); nothing is queued."""
        events = tuple(events)
        self.correlator.learn(events)
        if self.twins is not None:
            self.twins.learn(events, journal)

    def pair_reports(self, on: bool) -> None:
        """The journal and text logs are followed together (`on`): keep one
        report of each line they both carry, the journal's (twins.py). Turned
        off only once nothing is held for pairing. Service only (wall clock)."""
        if on and self.twins is None:
            self.twins = Twins()
            self._tombstones = True
        elif not on and self.twins is not None and self.twins.next_deadline() is None:
            self.twins = None

    def pair_hook(self, hosts: Iterable[str | None], logs: bool, journal: bool) -> None:
        """The PAM hook's spool is followed for `hosts`, and logs (`logs`;
        the systemd journal among them: `journal`) are followed: the
        correlator joins the two reports of each login."""
        self.correlator.pair(hosts, logs, JOURNAL_LAG if journal else timedelta(0))

    def tick(self, now: datetime) -> list[Result]:
        """Let out logins whose hold ran out by `now`, and what the rules
        made due by then (summaries at the end of their window, the digest at
        the end of quiet hours). The service calls it with the wall clock;
        `next_deadline()` says when it must be called next."""
        ready = self.correlator.feed_all(self.twins.flush(now), now) if self.twins is not None else []
        return self._finish(ready + self.correlator.flush(now), now=now)

    def drain(self) -> list[Result]:
        """End of input: let everything out, and write every position and
        all enricher state; in log time (replay), also the summaries and
        digest the rules still hold."""
        ready = self.correlator.feed_all(self.twins.drain(), None) if self.twins is not None else []
        return self._finish(ready + self.correlator.drain(), final=True)

    def next_deadline(self) -> datetime | None:
        """When `tick` must be called at the latest: the oldest held login
        must go out, or the rules have something due."""
        times = [t for t in (self.correlator.next_deadline(), self.rules.next_due,
                             self.twins.next_deadline() if self.twins is not None else None) if t is not None]
        return min(times, default=None)

    def holding(self) -> bool:
        """A login is held for its session line, or a text report for its
        journal twin."""
        return self.correlator.next_deadline() is not None or (
            self.twins is not None and self.twins.next_deadline() is not None)

    def flush(self) -> None:
        """Write what is waiting (alerts, acknowledged positions, enricher and
        rules state) now."""
        self._write(self._changes(False))

    @property
    def unwritten(self) -> bool:
        """Alerts are waiting for the store (a write failed)."""
        return bool(self._alerts)

    def _finish(self, events: list[Event], final: bool = False, now: datetime | None = None) -> list[Result]:
        self._released += len(events)
        batches = self._batches
        while batches and batches[0][0] <= self._released:
            position = batches.popleft()[1]
            self._positions[position.source] = position
        if self._tombstones:
            events = [e for e in events if e.kind != TWIN]
        results: list[Result] = []
        alerts: list[Alert] = []
        for enrich_all in self._batch:
            events = enrich_all(events)
        enrichers = self._each
        report_all = self.report_all
        rules = self.rules
        kinds = rules.kinds if self.queue else frozenset()
        explain = self.explain
        for e in events:
            for enrich in enrichers:
                e = enrich(e)
            if e.kind not in kinds:
                if report_all:
                    results.append(Result(e, IGNORE, None))
                continue
            if rules.next_due is not None and e.time >= rules.next_due:
                self._made(rules.due(e.time), results, alerts)
            decision = rules.decide(e, explain)
            if decision.action == "alert":
                alert = self._alert(event_id(e), e, decision)
                alerts.append(alert)
                results.append(Result(e, decision, alert))
            elif report_all or decision.action == "digest":
                results.append(Result(e, decision, None))
        if self.queue:
            last = now or (events[-1].time if events else None)
            if last is not None and rules.next_due is not None and last >= rules.next_due:
                self._made(rules.due(last), results, alerts)
            if final and self.log_time:
                self._made(rules.flush(), results, alerts)
            self._alerts.extend(alerts)
        changes = self._changes(final)  # asked for every batch: the enrichers count here
        if (
            self._alerts
            or changes
            or final
            or (self._positions and time.monotonic() - self._written_at >= self.position_interval)
        ):
            self._write(changes)
        return results

    def _changes(self, final: bool) -> list[tuple]:
        stateful = (self._stateful + [self.rules]) if self.queue else self._stateful
        return [(e, c) for e in stateful if (c := e.changes(final)) is not None]

    def _write(self, changes: list[tuple]) -> None:
        if not (self._alerts or self._positions or changes):
            return
        new = self.store.enqueue(self._alerts, list(self._positions.values()), [c for _, c in changes])
        self.queued += len(new)
        if self.on_queued is not None:
            for alert in new:
                self.on_queued(alert)
        for stateful, c in changes:
            stateful.saved(c)
        self._alerts = []
        self._positions = {}
        self._written_at = time.monotonic()

    def _alert(self, alert_id: str, e: Event, decision: Decision) -> Alert:
        deliverable = self.targets
        targets = tuple(t for t in decision.targets if t in deliverable)
        return Alert(alert_id, e, decision.severity, decision.rule, list(decision.reasons), targets)

    def _made(self, outputs: list[Output], results: list[Result], alerts: list[Alert]) -> None:
        """Summaries and digests the rules made: queued and reported like alerts."""
        for o in outputs:
            alert = self._alert(o.id, o.event, o.decision) if o.decision.action == "alert" else None
            if alert is not None:
                alerts.append(alert)
            results.append(Result(o.event, o.decision, alert))
