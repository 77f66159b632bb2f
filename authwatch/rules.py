"""Deciding what happens to an event: alert, or not.

Until a configuration names rules, the built-in policy holds: every login
alerts at `info` (the reasons say what stands out about it: novelty,
impossible travel, failures before it), and a forged sshd entry (journal)
at `critical`.
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

# The kinds of event a decision can be anything but IGNORE for: the pipeline
# does not ask about the others (most lines of a brute-forced host's log).
DECIDED_KINDS = frozenset((ev.LOGIN, ev.FORGED))


def decide(event: Event) -> Decision:
    if event.kind == ev.LOGIN:
        reason = "root login" if event.user == "root" else "every login alerts (built-in default)"
        return Decision("alert", "info", None, (*reasons(event), reason))
    if event.kind == ev.FORGED:
        f = event.forged
        who = f"uid {f.uid}, pid {f.pid}, {f.exe or f.comm or 'program unknown'}" if f else "another program"
        return Decision("alert", "critical", None, (f"a line claiming to be sshd's was written by {who}",))
    return IGNORE
