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
next one. The rules engine keeps state the same way (cooldowns, alerts held
for the digest, summary windows), and also makes alerts of its own as time
passes (summaries, digests): in a replay when the events' time passes their
moment, and at the end of input; in the service when `tick(now)` is called
with the wall clock.
"""

from __future__ import annotations

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
        rules: Engine | None = None,
        explain: bool = False,
    ):
        """`targets`: the targets alerts may be delivered to (an alert goes
        to those of them its rule names). `log_time`: holds are measured in the
        events' own time, and the end of input sends what the rules still
        hold (replay), not the wall clock (follow). `report_all`: return every
        event that left the pipeline, not only those that alerted. `queue`:
        decide and put alerts in the outbox (False: `learn`, which only fills
        history and must not touch the rules' state). `rules`: the engine
        (default: the built-in policy; a reload may assign `pipeline.rules` a
        new Engine between two batches: its state is in the store).
        `explain`: decisions carry their trace."""
        self.store = store
        self.report_all = report_all
        self.queue = queue
        self.targets = tuple(targets)
        self.correlator = Correlator(hold)
        self.enrichers = tuple(enrichers)
        self._batch = [e.enrich_all for e in self.enrichers if hasattr(e, "enrich_all")]
        self._each = tuple(e for e in self.enrichers if not hasattr(e, "enrich_all"))
        # Without an engine: the built-in policy, alerting every target given.
        self.rules = rules if rules is not None else Engine(Settings(file=None, state=store.path,
                                                                     targets=dict.fromkeys(self.targets, {})))
        self.explain = explain
        self._stateful = [e for e in self.enrichers if hasattr(e, "changes")]
        self.log_time = log_time

    def feed(self, events: Iterable[Event], now: datetime | None = None, position: Position | None = None) -> list[Result]:
        """Run parsed events through; queue the alerts (with `position`, in
        one transaction) and return what left the pipeline."""
        ready = self.correlator.feed_all(list(events), None if self.log_time else now)
        return self._finish(ready, position)

    def tick(self, now: datetime, position: Position | None = None) -> list[Result]:
        """Let out logins whose hold ran out by `now`, and what the rules
        made due by then (summaries at the end of their window, the digest at
        the end of quiet hours). The service calls it with the wall clock;
        `rules.next_due` says when something next falls due."""
        return self._finish(self.correlator.flush(now), position, now=now)

    def drain(self, position: Position | None = None) -> list[Result]:
        """End of input: let everything out (and save all enricher state); in
        log time (replay), also the summaries and digest the rules still hold."""
        return self._finish(self.correlator.drain(), position, final=True)

    def _finish(self, events: list[Event], position: Position | None, final: bool = False,
                now: datetime | None = None) -> list[Result]:
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
        stateful = (self._stateful + [rules]) if self.queue else self._stateful
        changes = [(e, c) for e in stateful if (c := e.changes(final)) is not None]
        if alerts or position is not None or changes:
            self.store.enqueue(alerts, position, [c for _, c in changes])
            for enricher, c in changes:
                enricher.saved(c)
        return results

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
