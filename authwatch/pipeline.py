"""The one path every event takes after parsing: correlate, enrich, decide,
queue. Replay and the follower both drive it, so what `replay` shows is what
the service does.

Positions are acknowledged end to end. A source hands in each batch of
events with the position it reached after them; that position is written
(in the same transaction as the batch's alerts) only once every event of the
batch, and of every batch before it, has left the correlator. A login held
for its session line therefore keeps the saved position before its batch: a
crash during the hold re-reads it, and the stable alert id makes the re-read
harmless. Positions of batches that raised no alert are written lazily (at
most every `position_interval` seconds, and on `flush()`): re-reading a few
lines without alerts after a crash costs nothing, an fsync per line does.

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
from authwatch.rules import Decision, decide
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
        hold_always: bool = False,
        enrichers: Sequence[Enricher] = (),
        log_time: bool = False,
        report_all: bool = True,
        position_interval: float = 5.0,
    ):
        """`log_time`: holds are measured in the events' own time (replay),
        not the wall clock (follow). `report_all`: return every event that
        left the pipeline, not only those that alerted."""
        self.store = store
        self.report_all = report_all
        self.targets = tuple(targets)
        self.correlator = Correlator(hold, hold_always)
        self.enrichers = tuple(enrichers)
        self.log_time = log_time
        self.position_interval = position_interval
        self.queued = 0  # alerts that were new to the outbox, in total
        self._fed = 0  # events taken in, in total
        self._released = 0  # events that left the correlator, in total
        self._batches: deque[tuple[int, Position]] = deque()  # (events fed by the batch's end, position)
        self._positions: dict[str, Position] = {}  # acknowledged, not yet written
        self._alerts: list[Alert] = []  # decided, not yet written
        self._written_at = time.monotonic()

    def reconfigure(self, *, targets: Sequence[str], hold: timedelta) -> None:
        """New settings (SIGHUP), keeping what is in flight and what the
        correlator has learnt."""
        self.targets = tuple(targets)
        self.correlator.hold = hold

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
        """End of input: let everything out, and write every position."""
        results = self._finish(self.correlator.drain())
        self.flush()
        return results

    def next_deadline(self) -> datetime | None:
        """When the oldest held login must go out at the latest."""
        return self.correlator.next_deadline()

    def flush(self) -> None:
        """Write what is waiting (alerts and acknowledged positions) now."""
        if self._alerts or self._positions:
            self._write()

    @property
    def unwritten(self) -> bool:
        """Alerts are waiting for the store (a write failed)."""
        return bool(self._alerts)

    def _finish(self, events: list[Event]) -> list[Result]:
        self._released += len(events)
        batches = self._batches
        while batches and batches[0][0] <= self._released:
            position = batches.popleft()[1]
            self._positions[position.source] = position
        results = []
        alerts = self._alerts
        enrichers = self.enrichers
        report_all = self.report_all
        for e in events:
            for enrich in enrichers:
                e = enrich(e)
            decision = decide(e)
            if decision.action == "alert":
                alert = Alert(event_id(e), e, decision.severity, decision.rule, list(decision.reasons), self.targets)
                alerts.append(alert)
                results.append(Result(e, decision, alert))
            elif report_all:
                results.append(Result(e, decision, None))
        if alerts or (self._positions and time.monotonic() - self._written_at >= self.position_interval):
            self._write()
        return results

    def _write(self) -> None:
        self.queued += self.store.enqueue(self._alerts, list(self._positions.values()))
        self._alerts = []
        self._positions = {}
        self._written_at = time.monotonic()
