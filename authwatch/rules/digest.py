"""Alerts held for the next digest (quiet hours, `digest` rules), and the
digests they become.

Each target gets one digest of the alerts meant for it; targets that held the
same alerts share one (the usual case: every alert to every target). A
digest is an alert whose event has kind `digest` and lists the held alerts,
one line each (`event.Deferred`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from authwatch.event import DIGEST, Deferred, Digest, Event, deferred_json
from authwatch.rules import SEVERITIES, Decision

SHOWN = 200  # alerts listed in one digest; the rest are counted


class Held:
    def __init__(self, rows: list[tuple] = ()):
        """`rows`: (alert_id, held, item JSON, targets JSON) from the store."""
        self.items: dict[str, tuple[Deferred, tuple[str, ...]]] = {}
        for _, _, item, targets in rows:
            d = _from_json(item)
            self.items[d.id] = (d, tuple(json.loads(targets)))
        self.added: list[tuple] = []  # rows to save
        self.released: list[str] = []  # ids to forget

    def __len__(self) -> int:
        return len(self.items)

    def first(self) -> datetime | None:
        """When the oldest held alert came."""
        return min((d.time for d, _ in self.items.values()), default=None)

    def last(self) -> datetime | None:
        return max((d.time for d, _ in self.items.values()), default=None)

    def hold(self, item: Deferred, targets: tuple[str, ...]) -> None:
        if item.id in self.items:
            return
        self.items[item.id] = (item, targets)
        self.added.append((item.id, item.time.timestamp(), _to_json(item), json.dumps(list(targets))))

    def release(self, end: datetime) -> list[tuple[str, Event, Decision]]:
        """Every held alert, as digests sent at `end`: (alert id, event, decision)."""
        groups: dict[tuple[str, ...], list[str]] = {}  # held ids -> the targets that get exactly those
        by_target: dict[str, list[str]] = {}
        untargeted = []
        for d, targets in sorted(self.items.values(), key=lambda held: held[0].time):
            for t in targets:
                by_target.setdefault(t, []).append(d.id)
            if not targets:
                untargeted.append(d.id)
        for target, ids in by_target.items():
            groups.setdefault(tuple(ids), []).append(target)
        out = [self._digest(ids, tuple(targets), end) for ids, targets in groups.items()]
        if untargeted:
            out.append(self._digest(tuple(untargeted), (), end))
        self.released += list(self.items)
        self.items = {}
        return out

    def _digest(self, ids: tuple[str, ...], targets: tuple[str, ...], end: datetime) -> tuple[str, Event, Decision]:
        alerts = [self.items[i][0] for i in ids]
        hosts = {a.host for a in alerts}
        event = Event(DIGEST, end, hosts.pop() if len(hosts) == 1 else None,
                      digest=Digest(alerts[0].time, end, tuple(alerts[:SHOWN]), len(alerts)))
        worst = max((a.severity for a in alerts), key=_rank)
        n = len(alerts)
        reason = f"{n} alert{'s' if n != 1 else ''} held for this digest (quiet hours or a digest rule)"
        key = hashlib.sha256("\x1f".join((*ids, "->", *targets)).encode()).hexdigest()[:32]
        return key, event, Decision("alert", worst, None, (reason,), targets)


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _to_json(d: Deferred) -> str:
    return json.dumps(deferred_json(d), ensure_ascii=False)


def _from_json(text: str) -> Deferred:
    item = json.loads(text)
    item["time"] = datetime.fromisoformat(item["time"])
    return Deferred(**item)
