"""An alert: an event that the rules decided someone must hear about."""

from __future__ import annotations

from typing import Any, NamedTuple

from authwatch.event import Event, to_json


class Alert(NamedTuple):
    id: str  # stable (see event.event_id): the outbox key and the email Message-ID
    event: Event
    severity: str  # info, warning, high, critical
    rule: str | None  # the rule that decided, None for the built-in default
    reasons: list[str]  # why, in words: "root login", "every login alerts"
    targets: tuple[str, ...]  # target names to deliver to

    def event_json(self) -> dict[str, Any]:
        return to_json(self.event)
