"""Rules: what happens to an event (alert, ignore, digest, summarize).

Rules are data: the configuration's `rules:` list, checked and built by
`spec.py` into `Rule` objects, whose `match` is a tree of conditions
(`conditions.py`). One engine (`engine.py`) applies them, first match wins,
with quiet hours (`schedule.py`), cooldowns, digests and summaries
(`tally.py`); every decision can explain itself (`Decision.trace`).

Without rules the built-in policy holds: every login alerts at `info` (the
reasons say what stands out about it: novelty, impossible travel, failures
before it), and a forged sshd entry (journal) at `critical`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import NamedTuple

from authwatch.rules.conditions import All

SEVERITIES = ("info", "warning", "high", "critical")
ACTIONS = ("alert", "ignore", "digest", "summarize")
QUIET_MODES = ("alert", "digest", "ignore")
DEFAULT_REASON = "every login alerts (built-in default)"


class Decision(NamedTuple):
    action: str  # alert (now), digest (held for the next digest), summarize (counted), ignore
    severity: str
    rule: str | None  # the rule's name; None for the built-in default
    reasons: tuple[str, ...]
    targets: tuple[str, ...] = ()  # where it goes (alert) or will go (digest)
    trace: tuple[str, ...] | None = None  # with explain: the rules tried, each condition, the outcome


@dataclass(frozen=True)
class Rule:
    index: int  # its place in the list, from 1
    name: str
    kinds: frozenset[str]  # the event kinds it applies to: those its match names, else logins
    action: str  # alert, ignore, digest, summarize
    match: All | None = None  # None: every event of its kinds
    severity: str = "info"
    notify: tuple[str, ...] | None = None  # target names; None: all targets
    cooldown: timedelta | None = None  # no second alert for the same user and address within this
    during_quiet_hours: str = "digest"  # alert, digest, ignore (critical always alerts)
    window: timedelta = timedelta(minutes=10)  # summarize: one message per window...
    threshold: int = 1  # ...once this many events were counted in it

    @cached_property
    def always(self) -> bool:
        """Whether it matches every event of its kinds (nothing but `kind` in its match)."""
        return self.match is None or all(p.key == "kind" for p in self.match.parts)

    @cached_property
    def counted(self) -> Decision:
        """What it decides about each event it counts (summarize): one object for them all."""
        return Decision("summarize", self.severity, self.name, ())


IGNORE = Decision("ignore", "info", None, ())
