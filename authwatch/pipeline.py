"""The one path every event takes after parsing: correlate, enrich, decide,
queue. Replay and the follower both drive it, so what `replay` shows is what
the service does.
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
    ):
        """`log_time`: holds are measured in the events' own time (replay),
        not the wall clock (follow). `report_all`: return every event that
        left the pipeline, not only those that alerted."""
        self.store = store
        self.report_all = report_all
        self.targets = tuple(targets)
        self.correlator = Correlator(hold)
        self.enrichers = tuple(enrichers)
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
        """End of input: let everything out."""
        return self._finish(self.correlator.drain(), position)

    def _finish(self, events: list[Event], position: Position | None) -> list[Result]:
        results = []
        alerts = []
        enrichers = self.enrichers
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
        if alerts or position is not None:
            self.store.enqueue(alerts, position)
        return results
