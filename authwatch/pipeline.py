"""The one path every event takes after parsing: correlate, enrich, decide,
queue. Replay and the follower both drive it, so what `replay` shows is what
the service does.

Enrichers are plain callables `Event -> Event`, applied in order to every
event that leaves the correlator (failures included). One that also has
`enrich_all(list[Event]) -> list[Event]` is given each batch whole instead:
half a million calls a second cost more than the enrichment of most events. One that keeps state
in the store (history) also has `changes(final) -> HistoryChanges | None` and
`saved(changes)`: what it changed is written in the same transaction as the
alerts and the position, then acknowledged; a failed write keeps it for the
next one.
"""

from __future__ import annotations

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
        self.enrichers = tuple(enrichers)
        self._batch = [e.enrich_all for e in self.enrichers if hasattr(e, "enrich_all")]
        self._each = tuple(e for e in self.enrichers if not hasattr(e, "enrich_all"))
        self._stateful = [e for e in self.enrichers if hasattr(e, "changes")]
        self.log_time = log_time

    def feed(self, events: Iterable[Event], now: datetime | None = None, position: Position | None = None) -> list[Result]:
        """Run parsed events through; queue the alerts (with `position`, in
        one transaction) and return what left the pipeline."""
        ready = self.correlator.feed_all(list(events), None if self.log_time else now)
        return self._finish(ready, position)

    def tick(self, now: datetime, position: Position | None = None) -> list[Result]:
        """Let out logins whose hold ran out by `now`."""
        return self._finish(self.correlator.flush(now), position)

    def drain(self, position: Position | None = None) -> list[Result]:
        """End of input: let everything out (and save all enricher state)."""
        return self._finish(self.correlator.drain(), position, final=True)

    def _finish(self, events: list[Event], position: Position | None, final: bool = False) -> list[Result]:
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
        if not self.queue:
            alerts = []
        changes = [(e, c) for e in self._stateful if (c := e.changes(final)) is not None]
        if alerts or position is not None or changes:
            self.store.enqueue(alerts, position, [c for _, c in changes])
            for enricher, c in changes:
                enricher.saved(c)
        return results
