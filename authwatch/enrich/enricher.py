"""The enricher the pipeline calls for every event after correlation.

Failures are counted (for `after_failures`) and go on unchanged: they are
half the lines of an internet-facing host, so `enrich_all` picks them out of
a batch at C level (no Python call per event) and the counting is one
`Counter.update` later. Logins get their place and network (GeoIP), the name of their
key, their novelty, impossible travel and the failures before them, in one
copy of the event. Other events pass through.
"""

from __future__ import annotations

from authwatch.config import Settings
from authwatch.enrich import geoip, ipscope
from authwatch.enrich.geoip import GeoIP
from authwatch.enrich.history import History
from authwatch.enrich.keynames import KeyNames
from itertools import compress
from operator import attrgetter

from authwatch.event import FAILURE, LOGIN, Event, Geo
from authwatch.store import HistoryChanges, Store


def open_geoip(settings: Settings) -> GeoIP | None:
    """The configured (or found) databases; None when GeoIP is off or none
    is found. Problems are in the result's `warnings`."""
    g = settings.geoip
    if not g.enabled:
        return None
    directory = settings.geoip_directory
    location = g.city or geoip.find(directory, geoip.CITY_NAMES)
    asn = g.asn or geoip.find(directory, geoip.ASN_NAMES)
    if location is None and asn is None:
        return None
    return GeoIP(location, asn, g.max_age)


def missing_geoip(settings: Settings) -> str | None:
    """Why there is no GeoIP at all, for the service log and `authwatch check`
    (None when there is a database, or GeoIP is turned off)."""
    g = settings.geoip
    if not g.enabled or g.city or g.asn:
        return None
    directory = settings.geoip_directory
    if geoip.find(directory, geoip.CITY_NAMES) or geoip.find(directory, geoip.ASN_NAMES):
        return None
    return (f"GeoIP: no database found in {', '.join(geoip.searched(directory))}: logins show no place or "
            "network, and history cannot tell new countries or ASNs; run 'authwatch geoip update' "
            "(or set geoip: false)")


def geoip_problems(settings: Settings) -> list[str]:
    """Every GeoIP warning (missing, unreadable, corrupt, stale database):
    what `authwatch check` shows."""
    missing = missing_geoip(settings)
    if missing:
        return [missing]
    db = open_geoip(settings)
    return db.take_warnings() if db else []


_KIND = attrgetter("kind")


class Enricher:
    def __init__(self, settings: Settings, store: Store, geo: GeoIP | None = None):
        self.geoip = geo if geo is not None else open_geoip(settings)
        self.history = History(store, settings.history)
        self.keys = KeyNames() if settings.history.key_names else None
        self._failure = self.history.failures.add
        self._pending_failures = self.history.failures.pending

    def __call__(self, e: Event) -> Event:
        if e.kind == FAILURE:
            self._failure(e)
            return e
        return self._login(e) if e.kind == LOGIN else e

    def enrich_all(self, events: list[Event]) -> list[Event]:
        """The same as calling it on each event, in order, for a batch."""
        kinds = list(map(_KIND, events))
        pending = self._pending_failures
        is_failure = FAILURE.__eq__
        start = 0
        while True:
            try:
                i = kinds.index(LOGIN, start)
            except ValueError:
                break
            pending.extend(compress(events[start:i], map(is_failure, kinds[start:i])))
            events[i] = self._login(events[i])
            start = i + 1
        pending.extend(compress(events[start:], map(is_failure, kinds[start:])))
        return events

    def _login(self, e: Event) -> Event:
        geo, located = None, 0
        if e.ip:
            if self.geoip is not None:
                geo, located = self.geoip.lookup(e.ip), self.geoip.loaded
            else:
                geo = Geo(ipscope.scope(e.ip))
        key_name = None
        if e.key and self.keys is not None:
            key_name = self.keys.name(e.user, e.key, e.key_location)
        found = self.history.login(e, geo, located, key_name)
        return e._replace(
            geo=geo,
            novelty=found.novelty,
            impossible_travel=found.travel is not None,
            travel=found.travel,
            after_failures=self.history.failures.count(e) if e.ip else 0,
            key_name=key_name,
        )

    # The pipeline writes these with the alerts and the position (see pipeline.py).
    def changes(self, final: bool = False) -> HistoryChanges | None:
        return self.history.changes(final)

    def saved(self, changes: HistoryChanges) -> None:
        self.history.saved(changes)

    def take_warnings(self) -> list[str]:
        """New warnings (GeoIP databases broken or replaced), once each."""
        return self.geoip.take_warnings() if self.geoip is not None else []

