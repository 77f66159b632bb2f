"""Deciding what happens to an event: alert, or not.

Until a configuration names rules, the built-in policy holds: every login
alerts at `info`, and the reasons say what stands out about it (novelty,
impossible travel, failures before it).
"""

from __future__ import annotations

from typing import NamedTuple

from authwatch import event as ev
from authwatch.enrich.describe import reasons
from authwatch.event import Event

SEVERITIES = ("info", "warning", "high", "critical")


class Decision(NamedTuple):
    action: str  # alert / ignore
    severity: str
    rule: str | None
    reasons: tuple[str, ...]


IGNORE = Decision("ignore", "info", None, ())


def decide(event: Event) -> Decision:
    if event.kind == ev.LOGIN:
        reason = "root login" if event.user == "root" else "every login alerts (built-in default)"
        return Decision("alert", "info", None, (*reasons(event), reason))
    return IGNORE
