"""`authwatch outbox`: the outbox and the targets' health, as text."""

from __future__ import annotations

from datetime import datetime

from authwatch.config import Settings
from authwatch.deliver.message import summary_line
from authwatch.errors import UsageError
from authwatch.output import printable
from authwatch.store import UNDELIVERED, Store

SHOWN_STATES = ("pending", "held", "failed", "dead", "sent")
ID_SHOWN = 12  # characters of an alert id in the table (enough for --retry)
ROWS_SHOWN = 1000  # deliveries listed, oldest first; the totals count them all


def outbox_text(store: Store, settings: Settings, now: float) -> str:
    tz = settings.tz

    def at(when: float) -> str:
        return datetime.fromtimestamp(when, tz).strftime("%Y-%m-%d %H:%M:%S %Z")

    states = {s.name: s for s in store.target_states()}
    counts = store.outbox_counts()
    names = sorted(set(settings.targets) | set(counts) | set(states))
    lines = ["targets:"] if names else ["no targets are configured."]
    width = max((len(n) for n in names), default=0)
    for name in names:
        state = states.get(name)
        if name not in settings.targets:
            health = "no longer configured"
        elif state and state.failing_since:
            health = (f"FAILING since {at(state.failing_since)}, {state.failures} "
                      f"{'try' if state.failures == 1 else 'tries'} in a row"
                      + (f", next at {at(state.retry_at)}" if state.retry_at > now else "")
                      + f": {printable(state.last_error or '?', 500)}")
        elif state and state.last_success:
            health = f"ok, last delivery {at(state.last_success)}"
        else:
            health = "nothing sent yet"
        tally = ", ".join(f"{n} {s}" for s in SHOWN_STATES if (n := counts.get(name, {}).get(s)))
        lines.append(f"  {name:<{width}}  {health}" + (f"  [{tally}]" if tally else ""))
    untargeted = store.untargeted()
    if untargeted:
        lines.append(f"{untargeted} {'alerts were' if untargeted != 1 else 'alert was'} kept without a target: "
                     "an alert goes to the targets configured when it is raised, so a target added later gets "
                     "only the alerts raised after it.")
    rows = store.outbox(limit=ROWS_SHOWN)
    if not rows:
        lines += ["", "nothing waits in the outbox."]
        return "\n".join(lines)
    lines += ["", f"{'ALERT':<{ID_SHOWN}}  {'TARGET':<{max(width, 6)}}  {'STATE':<7}  TRIES  {'QUEUED':<23}  WHAT"]
    for row in rows:
        lines.append(f"{row.alert_id[:ID_SHOWN]:<{ID_SHOWN}}  {row.target:<{max(width, 6)}}  {row.state:<7}  "
                     f"{row.attempts:>5}  {at(row.queued):<23}  {summary_line(row, tz)}")
        if row.last_error:
            lines.append(f"{'':<{ID_SHOWN}}  last error: {printable(row.last_error, 500)}")
    total = {state: sum(c.get(state, 0) for c in counts.values()) for state in (*UNDELIVERED, "dead")}
    waiting, dead = sum(total[s] for s in UNDELIVERED), total["dead"]
    if waiting + dead > len(rows):
        lines.append(f"… {waiting + dead - len(rows)} more not shown")
    lines += ["", f"{waiting} waiting, {dead} dead." + (" Queue one again: authwatch outbox --retry ID"
                                                            if dead or total["failed"] else "")]
    return "\n".join(lines)


def retry_text(store: Store, prefix: str, target: str | None, now: float) -> str:
    ids = store.alert_ids(prefix.lower())
    if not ids:
        raise UsageError(f"no queued alert has an id starting with {prefix!r} (see authwatch outbox)")
    if len(ids) > 1:
        raise UsageError(f"{len(ids)} alerts have an id starting with {prefix!r}; give more of it")
    targets = store.retry(ids[0], now, target)
    if not targets:
        raise UsageError(f"alert {ids[0]} has no failed or dead delivery" + (f" to {target}" if target else "")
                         + " to retry")
    return (f"alert {ids[0]} queued again for {', '.join(targets)}; a running authwatch sends it within a "
            "minute, 'authwatch scan' on its next run.")
