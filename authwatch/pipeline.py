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
next one.

Positions are acknowledged end to end. A source hands in each batch of
events with the position it reached after them; that position is written
(in the same transaction as the batch's alerts) only once every event of the
batch, and of every batch before it, has left the correlator. A login held
for its session line therefore keeps the saved position before its batch: a
crash during the hold re-reads it, and the stable alert id makes the re-read
harmless (history, too, counts a sighting only once). Positions of batches
that raised no alert are written lazily (at most every `position_interval`
seconds, and on `flush()`): re-reading a few lines without alerts after a
crash costs nothing, an fsync per line does.

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
from authwatch.correlate import Correlator
from authwatch.event import Event, event_id
from authwatch.rules import DECIDED_KINDS, IGNORE, Decision, decide
from authwatch.store import Position, Store

Enricher = Callable[[Event], Event]


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
        position_interval: float = 5.0,
    ):
        """`log_time`: holds are measured in the events' own time (replay),
        not the wall clock (follow). `report_all`: return every event that
        left the pipeline, not only those that alerted. `queue`: put alerts in
        the outbox (False: `learn`, which only fills history)."""
        self.store = store
        self.report_all = report_all
        self.queue = queue
        self.targets = tuple(targets)
        self.correlator = Correlator(hold)
        self._set_enrichers(enrichers)
        self.log_time = log_time
        self.position_interval = position_interval
        self.queued = 0  # alerts that were new to the outbox, in total
        self._fed = 0  # events taken in, in total
        self._released = 0  # events that left the correlator, in total
        self._batches: deque[tuple[int, Position]] = deque()  # (events fed by the batch's end, position)
        self._positions: dict[str, Position] = {}  # acknowledged, not yet written
        self._alerts: list[Alert] = []  # decided, not yet written
        self._written_at = time.monotonic()

    def reconfigure(self, *, targets: Sequence[str], hold: timedelta, enrichers: Sequence[Enricher]) -> None:
        """New settings (SIGHUP), keeping what is in flight and what the
        correlator has learnt. Flush first: the old enrichers' state goes."""
        self.targets = tuple(targets)
        self.correlator.hold = hold
        self._set_enrichers(enrichers)

    def _set_enrichers(self, enrichers: Sequence[Enricher]) -> None:
        self.enrichers = tuple(enrichers)
        self._batch = [e.enrich_all for e in self.enrichers if hasattr(e, "enrich_all")]
        self._each = tuple(e for e in self.enrichers if not hasattr(e, "enrich_all"))
        self._stateful = [e for e in self.enrichers if hasattr(e, "changes")]

    def feed(self, events: Iterable[Event], now: datetime | None = None, position: Position | None = None) -> list[Result]:
        """Run parsed events through and queue their alerts. `position`: where
        the events' source is once these events are done with."""
        events = list(events)
        self._fed += len(events)
        if position is not None:
            self._batches.append((self._fed, position))
        ready = self.correlator.feed_all(events, None if self.log_time else now)
        return self._finish(ready)

    def learn(self, events: Iterable[Event]) -> None:
        """Let the correlator know what a source logged before it was followed
        (whether its hosts log session lines); nothing is queued."""
        self.correlator.learn(events)

    def tick(self, now: datetime) -> list[Result]:
        """Let out logins whose hold ran out by `now`."""
        return self._finish(self.correlator.flush(now))

    def drain(self) -> list[Result]:
        """End of input: let everything out, and write every position and
        all enricher state."""
        return self._finish(self.correlator.drain(), final=True)

    def next_deadline(self) -> datetime | None:
        """When the oldest held login must go out at the latest."""
        return self.correlator.next_deadline()

    def flush(self) -> None:
        """Write what is waiting (alerts, acknowledged positions, enricher
        state) now."""
        self._write(self._changes(False))

    @property
    def unwritten(self) -> bool:
        """Alerts are waiting for the store (a write failed)."""
        return bool(self._alerts)

    def _finish(self, events: list[Event], final: bool = False) -> list[Result]:
        self._released += len(events)
        batches = self._batches
        while batches and batches[0][0] <= self._released:
            position = batches.popleft()[1]
            self._positions[position.source] = position
        results = []
        alerts = []
        for enrich_all in self._batch:
            events = enrich_all(events)
        enrichers = self._each
        report_all = self.report_all
        for e in events:
            for enrich in enrichers:
                e = enrich(e)
            if e.kind not in DECIDED_KINDS:
                if report_all:
                    results.append(Result(e, IGNORE, None))
                continue
            decision = decide(e)
            if decision.action == "alert":
                alert = Alert(event_id(e), e, decision.severity, decision.rule, list(decision.reasons), self.targets)
                alerts.append(alert)
                results.append(Result(e, decision, alert))
            elif report_all:
                results.append(Result(e, decision, None))
        if self.queue:
            self._alerts.extend(alerts)
        changes = self._changes(final)  # called for every batch: enrichers count here
        if (
            self._alerts
            or changes
            or final
            or (self._positions and time.monotonic() - self._written_at >= self.position_interval)
        ):
            self._write(changes)
        return results

    def _changes(self, final: bool) -> list[tuple]:
        return [(e, c) for e in self._stateful if (c := e.changes(final)) is not None]

    def _write(self, changes: list[tuple]) -> None:
        if not (self._alerts or self._positions or changes):
            return
        self.queued += self.store.enqueue(self._alerts, list(self._positions.values()), [c for _, c in changes])
        for enricher, c in changes:
            enricher.saved(c)
        self._alerts = []
        self._positions = {}
        self._written_at = time.monotonic()
