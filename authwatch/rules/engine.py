"""The one engine that applies the rules: first match wins.

    engine = Engine(settings, store)
    engine.kinds                 # the event kinds worth asking about (others: ignored, never asked)
    engine.decide(event)         # -> Decision; explain=True adds its trace
    engine.due(now)              # -> [Output]: summaries whose window ended, the digest when due
    engine.next_due              # when something falls due next (None: nothing waits)
    engine.flush()               # end of input (replay): everything pending, now
    engine.changes(), engine.saved(c)   # its state, written with the alerts (see pipeline.py)

Time is the events' own: quiet hours, cooldowns and summary windows are
judged by event time, and `due(now)` is called by the pipeline with each
event's time in a replay and with the wall clock by the service (`tick`).

A rule applies to the kinds of event its `match` names (`kind:`, anywhere in
it; inside `not`, the other kinds, never `forged`), else to logins only. A login that no rule matches alerts at `info`
(fail safe; quiet hours apply), a forged sshd entry at `critical` unless a
rule names `forged`; any other event no rule matches is ignored. `critical`
always goes out at once, through quiet hours. A `cooldown` suppresses the
same rule's alerts for the same user and address (and host) until that long
after its last alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import NamedTuple

from authwatch import event as ev
from authwatch.config import Settings, say_duration
from authwatch.enrich.describe import reasons as enrichment_reasons
from authwatch.event import Deferred, Event, event_id
from authwatch.rules import DEFAULT_REASON, IGNORE, Decision, Rule
from authwatch.rules.conditions import Step
from authwatch.rules.digest import Held
from authwatch.rules.schedule import Schedule
from authwatch.rules.tally import Tally
from authwatch.store import RuleChanges, Store

_KIND_WORDS = {ev.FAILURE: "failed logins", ev.INVALID_USER: "attempts for unknown users", ev.LOGIN: "logins",
               ev.DISCONNECT: "connections closed before login"}


class Output(NamedTuple):
    """A summary or a digest that became due: an alert not made from one log line."""

    id: str
    event: Event
    decision: Decision


class Engine:
    def __init__(self, settings: Settings | None = None, store: Store | None = None):
        """`settings`: None for the built-in policy. `store`: where cooldowns,
        held alerts and open summary windows live (and are loaded from); None
        keeps them in memory only."""
        settings = settings or Settings(file=None, state=":memory:")
        self.tz = settings.tz or timezone.utc
        self.rules: tuple[Rule, ...] = settings.rules
        self.targets = tuple(settings.targets)
        self.quiet = Schedule(settings.quiet_hours, self.tz)
        self.digest_at = settings.digest_at
        by_kind: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for kind in rule.kinds:
                by_kind.setdefault(kind, []).append(rule)
        self._by_kind = {kind: tuple(rules) for kind, rules in by_kind.items()}
        self.kinds = frozenset((ev.LOGIN, ev.FORGED, *by_kind))
        self._named = {r.name: r for r in self.rules}
        self._longest_cooldown = max((r.cooldown.total_seconds() for r in self.rules if r.cooldown), default=0.0)
        state = store.rule_state() if store is not None else None
        self._cooldowns: dict[tuple[str, str, str, str], float] = {}
        self._windows: dict[str, Tally] = {}
        if state is not None:
            self._cooldowns = {(r, h, u, i): at for r, h, u, i, at in state.cooldowns if r in self._named}
            self._windows = {r: Tally.from_json(t) for r, t in state.windows if r in self._named}
        self.held = Held(state.held if state is not None else [])
        self.clock: datetime | None = None  # the latest time seen
        self._new_cooldowns: dict[tuple[str, str, str, str], float] = {}
        self._dirty_windows: set[str] = set()
        self._closed: set[str] = {r for r, _ in state.windows if r not in self._named} if state else set()
        first = self.held.first()
        self._digest_due = self._next_digest(first) if first is not None else None
        self.next_due: datetime | None = None
        self._update_next_due()

    # -- deciding -------------------------------------------------------------

    def decide(self, e: Event, explain: bool = False) -> Decision:
        """What happens to `e`. With `explain`, the decision carries its
        trace: each rule tried, each condition, the outcome."""
        trace: list[str] | None = [] if explain else None
        if self.clock is None or e.time > self.clock:
            self.clock = e.time
        kind = e.kind
        for rule in self.rules if explain else self._by_kind.get(kind, ()):
            if kind not in rule.kinds:  # only when explaining: every rule is listed
                trace.append(f"rule {rule.index} {rule.name!r}: not tried (applies to {', '.join(sorted(rule.kinds))})")
                continue
            steps: list[Step] | None = None if trace is None else []
            # A rule whose match only names kinds matches every event it is asked
            # about: the test is skipped, unless it is to be explained.
            if (rule.always and steps is None) or rule.match is None or rule.match.test(e, self.tz, steps):
                if trace is not None:
                    trace.append(f"rule {rule.index} {rule.name!r}: matched")
                    trace += _steps(steps)
                return self._apply(rule, e, trace)
            if trace is not None:
                trace.append(f"rule {rule.index} {rule.name!r}: no")
                trace += _steps(steps)
        return self._default(e, trace)

    def _apply(self, rule: Rule, e: Event, trace: list[str] | None) -> Decision:
        if rule.action == "ignore":
            return _traced(Decision("ignore", rule.severity, rule.name, ()), trace, lambda: "ignored")
        if rule.action == "summarize":
            tally = self._count(rule, e)
            return _traced(rule.counted, trace, lambda: (
                f"counted: {tally.total:,} in the window {_hm(tally.start, self.tz)}-{_hm(tally.end, self.tz)} "
                f"(a summary goes out at its end if {rule.threshold:,} or more)"))
        return self._send(event_id(e), e, rule, _reasons(e), trace)

    def _default(self, e: Event, trace: list[str] | None) -> Decision:
        if e.kind == ev.LOGIN:
            if trace is not None:
                trace.append("no rule matched: every login alerts (fail safe)" if self.rules else "built-in default")
            return self._send(event_id(e), e, None, (*enrichment_reasons(e), DEFAULT_REASON if e.user != "root"
                                                     else "root login"), trace)
        if e.kind == ev.FORGED:
            if trace is not None:
                trace.append("no rule matched: a forged sshd entry alerts at critical")
            return self._send(event_id(e), e, None, _reasons(e), trace, severity="critical")
        return _traced(IGNORE, trace, lambda: "no rule matched: not alerted")

    def _send(self, alert_id: str, e: Event, rule: Rule | None, reasons: Sequence[str], trace: list[str] | None,
              severity: str | None = None) -> Decision:
        """An alert from `rule` (None: the built-in default): now, held for
        the digest, or not at all (cooldown, quiet hours)."""
        severity = severity or (rule.severity if rule else "info")
        name = rule.name if rule else None
        targets = rule.notify if rule and rule.notify is not None else self.targets
        t = e.time.timestamp()
        key = None
        if rule is not None and rule.cooldown is not None:
            key = (rule.name, e.host or "", e.user or "", e.ip or "")
            last = self._cooldowns.get(key)
            if last is not None and t < last + rule.cooldown.total_seconds():
                return _traced(Decision("ignore", severity, name, tuple(reasons), targets), trace, lambda: (
                    f"not alerted: cooldown ({say_duration(rule.cooldown)}): this rule alerted about {e.user}@{e.host} "
                    f"from {e.ip} at {_hm(datetime.fromtimestamp(last, self.tz), self.tz)}"))
        action, why = "alert", ""
        if severity == "critical":
            why = " (critical: at once, through quiet hours and rate limits)"
        elif rule is not None and rule.action == "digest":
            action, why = "digest", " (a digest rule)"
        elif self.quiet:
            windows = self.quiet.holding(e.time)
            if windows:
                action = rule.during_quiet_hours if rule else "digest"
                why = f" (quiet hours {'; '.join(w.text for w in windows)}: during_quiet_hours {action})"
        if action == "ignore":
            return _traced(Decision("ignore", severity, name, tuple(reasons), targets), trace,
                           lambda: f"not alerted{why}")
        if key is not None:
            self._cooldowns[key] = self._new_cooldowns[key] = t
        if action == "digest":
            self._hold(alert_id, e, severity, name, reasons, targets)
            return _traced(Decision(action, severity, name, tuple(reasons), targets), trace,
                           lambda: f"held for the digest at {_when(self._digest_due, self.tz)}{why}")
        return _traced(Decision(action, severity, name, tuple(reasons), targets), trace,
                       lambda: f"alert [{severity}] to {', '.join(targets) or '(no targets configured)'}{why}")

    # -- summaries ------------------------------------------------------------

    def _count(self, rule: Rule, e: Event) -> Tally:
        tally = self._windows.get(rule.name)
        if tally is None:
            tally = self._windows[rule.name] = Tally(e.time.astimezone(timezone.utc), rule.window)
            self._update_next_due()
        tally.add(e)
        self._dirty_windows.add(rule.name)
        return tally

    def _close(self, name: str) -> list[Output]:
        tally = self._windows.pop(name)
        self._dirty_windows.discard(name)
        self._closed.add(name)
        rule = self._named[name]
        if tally.total < rule.threshold:
            return []
        summary = tally.summary()
        what = " and ".join(_KIND_WORDS.get(k, f"{k} events") for k, _ in summary.kinds)
        minutes = (tally.end - tally.start).total_seconds() / 60
        reason = (f"{tally.total:,} {what} in {minutes:g} minutes, from {summary.ip_count:,} "
                  f"address{'es' if summary.ip_count != 1 else ''}, for {summary.user_count:,} "
                  f"user{'s' if summary.user_count != 1 else ''}")
        event = Event(ev.SUMMARY, tally.end.astimezone(self.tz), tally.host(), detail=rule.name, summary=summary)
        key = hashlib.sha256(f"summary\x1f{name}\x1f{tally.start.isoformat()}".encode("utf-8", "surrogatepass"))
        decision = self._send(key.hexdigest()[:32], event, rule, (reason,), None)
        return [Output(key.hexdigest()[:32], event, decision)]

    # -- the digest -------------------------------------------------------------

    def _hold(self, alert_id: str, e: Event, severity: str, rule: str | None, reasons: Sequence[str],
              targets: tuple[str, ...]) -> None:
        why = reasons[0] if reasons and reasons[0] != DEFAULT_REASON else (rule or "login")
        self.held.hold(Deferred(alert_id, e.time, severity, rule, e.kind, e.host, e.user, e.ip,
                                e.geo.country_code if e.geo else None, why), targets)
        if self._digest_due is None:
            self._digest_due = self._next_digest(e.time)
            self._update_next_due()

    def _next_digest(self, t: datetime) -> datetime | None:
        """When a digest holding an alert of time `t` goes out: at the end
        of the quiet hours `t` is in, else at the end of the next quiet hours
        or at the next `digest_at` time outside them, whichever is first."""
        if self.quiet.contains(t):
            return self.quiet.end(t)
        start = self.quiet.next_start(t)
        candidates = [self.quiet.end(start) if start else None, self.quiet.next_clock(self.digest_at, t)]
        return min((c for c in candidates if c is not None), default=None)

    # -- time passing -----------------------------------------------------------

    def due(self, now: datetime) -> list[Output]:
        """What fell due by `now`, in time order."""
        if self.clock is None or now > self.clock:
            self.clock = now
        out: list[Output] = []
        while self.next_due is not None and self.next_due <= now:
            out += self._take(self.next_due)
        return out

    def flush(self) -> list[Output]:
        """End of input: close every summary window and send the digest now."""
        out: list[Output] = []
        for name in sorted(self._windows, key=lambda n: self._windows[n].end):
            out += self._close(name)
        if len(self.held):
            out += self._release(max(t.astimezone(timezone.utc) for t in (self.clock, self.held.last()) if t))
        self._update_next_due()
        return out

    def _take(self, at: datetime) -> list[Output]:
        """Whatever is due at `at`: windows that end then, then the digest."""
        out: list[Output] = []
        for name in [n for n, t in self._windows.items() if t.end <= at]:
            out += self._close(name)
        if self._digest_due is not None and self._digest_due <= at:
            out += self._release(self._digest_due)
        self._update_next_due()
        return out

    def _release(self, end: datetime) -> list[Output]:
        self._digest_due = None
        return [Output(*d) for d in self.held.release(end.astimezone(self.tz))]

    def _update_next_due(self) -> None:
        moments = [t.end for t in self._windows.values()]
        if self._digest_due is not None:
            moments.append(self._digest_due)
        self.next_due = min(moments, default=None)

    # -- state --------------------------------------------------------------------

    def changes(self, final: bool = False) -> RuleChanges | None:
        if not (self._new_cooldowns or self.held.added or self.held.released or self._dirty_windows or self._closed):
            return None
        before = None
        if self._new_cooldowns and self.clock is not None:
            before = self.clock.timestamp() - self._longest_cooldown
            self._cooldowns = {k: at for k, at in self._cooldowns.items() if at >= before}
        return RuleChanges(
            cooldowns=[(*k, at) for k, at in self._new_cooldowns.items()],
            cooldowns_before=before,
            held=list(self.held.added),
            released=list(self.held.released),
            windows=[(name, self._windows[name].to_json()) for name in sorted(self._dirty_windows)],
            closed=sorted(self._closed - self._dirty_windows),
        )

    def saved(self, c: RuleChanges) -> None:
        for *k, at in c.cooldowns:
            if self._new_cooldowns.get(tuple(k)) == at:
                del self._new_cooldowns[tuple(k)]
        del self.held.added[:len(c.held)]
        del self.held.released[:len(c.released)]
        self._dirty_windows.difference_update(name for name, _ in c.windows)
        self._closed.difference_update(c.closed)


def _reasons(e: Event) -> tuple[str, ...]:
    """Why an event a rule alerts about stands out, in words."""
    if e.kind == ev.FORGED:
        f = e.forged
        who = f"uid {f.uid}, pid {f.pid}, {f.exe or f.comm or 'program unknown'}" if f else "another program"
        return (f"a line claiming to be sshd's was written by {who}",)
    out = enrichment_reasons(e)
    if e.kind == ev.LOGIN and e.user == "root":
        out.append("root login")
    return tuple(out)


def _traced(decision: Decision, trace: list[str] | None, outcome: Callable[[], str]) -> Decision:
    """The decision, with its trace and `outcome()` when explaining (only
    then: the words cost more than the decision)."""
    if trace is None:
        return decision
    return decision._replace(trace=(*trace, f"-> {outcome()}"))


def _steps(steps: list[Step] | None, depth: int = 1) -> list[str]:
    """Conditions as indented lines; the match's own "all of" is left out."""
    if not steps:
        return []
    if depth == 1 and len(steps) == 1 and steps[0].text == "all of:":
        steps = list(steps[0].children)
    lines = []
    for s in steps:
        lines.append(f"{'  ' * depth}{'yes' if s.ok else 'no '}  {s.text}")
        lines += _steps(list(s.children), depth + 1) if s.children else []
    return lines


def _hm(t: datetime, tz) -> str:
    return t.astimezone(tz).strftime("%H:%M")


def _when(t: datetime | None, tz) -> str:
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if t is not None else "the end of input"
