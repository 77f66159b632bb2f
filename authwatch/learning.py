"""Filling history from old logs without queuing anything: `authwatch learn`,
and the seeding of no-root mode, where ~/.ssh_logins already holds the
logins made before authwatch was installed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from authwatch.config import Settings
from authwatch.enrich.enricher import Enricher
from authwatch.parse.syslog import Stats
from authwatch.pipeline import Pipeline, Result
from authwatch.replay import REPLAY_HOLD, replay
from authwatch.store import Store


class Learned(NamedTuple):
    logins: int
    users: int  # distinct (host, user) among them
    stats: Stats
    failures: list[str]  # one line per file that could not be read to its end
    warnings: list[str]  # files none of whose lines was understood; the enricher's (a GeoIP database missing, ...)


def learn(settings: Settings, store: Store, paths: Sequence[str], now: datetime | None = None,
          fmt: str = "auto") -> Learned:
    """Read `paths` (oldest first) into `store`'s history; nothing is queued.
    `fmt`: as replay's (auto: each file by its first line)."""
    logins = 0
    users: set[tuple[str | None, str | None]] = set()

    def count(results: list[Result]) -> None:
        nonlocal logins
        for r in results:
            if r.event.kind == "login":
                logins += 1
                users.add((r.event.host, r.event.user))

    enricher = Enricher(settings, store)
    warnings = enricher.take_warnings()
    pipeline = Pipeline(store, hold=REPLAY_HOLD, enrichers=[enricher], log_time=True, report_all=True, queue=False)
    stats, failures, unread = replay(paths, pipeline, settings.tz, count, now=now, fmt=fmt)
    return Learned(logins, len(users), stats, failures, unread + warnings)
