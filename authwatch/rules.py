"""Deciding what happens to an event: alert, or not.

Until a configuration names rules, the built-in policy holds: every login
alerts at `info`.
"""

from __future__ import annotations

from typing import NamedTuple

from authwatch import event as ev
from authwatch.event import Event

SEVERITIES = ("info", "warning", "high", "critical")


class Decision(NamedTuple):
    action: str  # alert / ignore
    severity: str
    rule: str | None
    reasons: tuple[str, ...]


IGNORE = Decision("ignore", "info", None, ())

# The kinds of event a decision can be anything but IGNORE for: the pipeline
# does not ask about the others (most lines of a brute-forced host's log).
DECIDED_KINDS = frozenset((ev.LOGIN,))


def decide(event: Event) -> Decision:
    if event.kind == ev.LOGIN:
        reason = "root login" if event.user == "root" else "every login alerts (built-in default)"
        return Decision("alert", "info", None, (reason,))
    return IGNORE
