"""Per-user history: what is new about a login, and what came before it.

For each user (per host, or across hosts with `scope: fleet`) history keeps
every IP, network (/24, /64), ASN, country and key fingerprint seen at a
login, with first-seen, last-seen and a count. A login's `novelty` lists what
is new, in this order: `first_login` (no login of this user before),
`learning`, `new_ip`, `new_network`, `new_asn`, `new_country`, `new_key`;
it is empty when nothing is new. While a user is being learned (until both
`learning_logins` logins and `learning_period` have passed since the first),
`learning` stands in for the `new_*` flags: it appears only when something
was new. An ASN (country) is new only for a user with an earlier login looked
up in an ASN (City or Country) database, whatever that login's address was:
a user known from the LAN is told of the first login from abroad, but adding
a database later does not make every login new. Entries not seen for
`expire` are forgotten. Trusted sources (trust.py) are never new.

All times are the events' own (log time), so replaying a log gives the same
result on any day. A sighting counts only when it is later than the last one,
so reading the same lines twice (`learn` run again) does not count them twice
(two logins in one second, as classic timestamps may show, count once).

**Where the state lives.** Hot state is in memory: users in an LRU of
`MAX_USERS` (loaded from the store on a miss, one query per user), failure
counts in a `FailureWindow`. Nothing is written per event: `changes()` hands
the pipeline what changed since the last save, which the store writes in the
same transaction as the alerts and the source position (`Store.enqueue`), and
`saved()` then forgets it; a failed write keeps it for the next one. So after
a crash, history holds exactly the events before the saved position, and the
events after it are read again. Failure counts are saved on a clean stop
(`final`); a crash loses at most those of the last hour, which only lowers
`after_failures` for a while.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from datetime import datetime, timezone

from authwatch.config import HistorySettings
from authwatch.enrich import ipscope, travel
from authwatch.enrich.describe import place as _place
from authwatch.enrich.failures import FailureWindow
from authwatch.enrich.geoip import ASN, LOCATION
from authwatch.enrich.trust import IP, KEY, Trusts
from authwatch.event import Event, Geo, Spot, Travel
from authwatch.store import HistoryChanges, Store

NOVELTY = ("first_login", "learning", "new_ip", "new_network", "new_asn", "new_country", "new_key")
MAX_USERS = 20_000
_TRUST_RELOAD_S = 30.0  # wall clock: `authwatch trust` may be run while the service runs
_PURGE_EVERY = 7 * 86400.0  # log time between deletions of expired entries (a scan of the table)
_SOURCE_KINDS = ("ip", "network", "asn", "country")  # what a trusted address vouches for


class _User:
    __slots__ = ("first", "last", "logins", "located", "spot", "spot_accuracy", "entries")

    def __init__(self, first: float, last: float, logins: int, located: int = 0):
        self.first = first
        self.last = last
        self.logins = logins
        self.located = located  # geoip.LOCATION | ASN: the databases some login was looked up in
        self.spot: Spot | None = None
        self.spot_accuracy: int | None = None
        self.entries: dict[tuple[str, str], list] = {}  # (kind, value) -> [first, last, count, label, asn]


class Login:
    """What history says about one login."""

    __slots__ = ("novelty", "travel")

    def __init__(self, novelty: tuple[str, ...], travel: Travel | None):
        self.novelty = novelty
        self.travel = travel


class History:
    def __init__(self, store: Store, settings: HistorySettings):
        self.store = store
        self.settings = settings
        self.fleet = settings.scope == "fleet"
        self.expire = settings.expire.total_seconds()
        self.learning_logins = settings.learning_logins
        self.learning_period = settings.learning_period.total_seconds()
        self.failures = FailureWindow(settings.failure_window)
        self.failures.restore(store.failure_counts())
        self._users: OrderedDict[tuple[str, str], _User] = OrderedDict()
        self._dirty_users: set[tuple[str, str]] = set()
        self._dirty_entries: set[tuple[str, str, str, str]] = set()
        self._trusts = Trusts(store.trusts())
        self._trusts_loaded = time.monotonic()
        self._latest = 0.0  # the latest event time seen (Unix)
        self._expired_at: float | None = None  # the event time of the last expiry

    # -- logins --------------------------------------------------------------

    def login(self, e: Event, geo: Geo | None, located: int, key_name: str | None = None) -> Login:
        """Record a login; return its novelty and any impossible travel.
        `located`: the GeoIP databases (geoip.LOCATION | ASN) its address was
        looked up in, or would have been were it public."""
        host = "" if self.fleet else (e.host or "")
        user = e.user or ""
        ts = e.time.timestamp()
        if ts > self._latest:
            self._latest = ts
        u = self._user(host, user)
        self._dirty_users.add((host, user))  # before caching: an unsaved user is never evicted
        first_login = u is None
        if u is None:
            u = _User(ts, ts, 0)
            self._cache(host, user, u)
        learning = u.logins < self.learning_logins or ts - u.first < self.learning_period
        if ts > u.last or u.logins == 0:
            u.logins += 1
        u.first, u.last = min(u.first, ts), max(u.last, ts)
        # An ASN or country is new only against a baseline: earlier logins looked up in its database.
        asn_can_be_new = first_login or bool(u.located & ASN)
        country_can_be_new = first_login or bool(u.located & LOCATION)
        u.located |= located

        trusts = self._current_trusts()
        ip = e.ip or ""
        trusted_source = bool(ip) and trusts.covers(e.host, user, IP, ip, ts)
        place = _place(geo)
        dims: list[tuple[str, str, str | None, int | None, bool]] = []  # (kind, value, label, asn, new if unseen)
        if ip:
            dims.append(("ip", ip, place, geo.asn if geo else None, True))
            dims.append(("network", ipscope.network(ip), None, None, True))
        if geo is not None and geo.asn is not None:
            dims.append(("asn", str(geo.asn), geo.as_org, None, asn_can_be_new))
        if geo is not None and geo.country_code:
            dims.append(("country", geo.country_code, geo.country, None, country_can_be_new))
        if e.key:
            dims.append(("key", e.key, key_name, None, True))
        new = []
        for kind, value, label, asn, unseen_is_new in dims:
            if self._see(u, host, user, kind, value, label, asn, ts, unseen_is_new):
                if kind == "key":
                    if not trusts.covers(e.host, user, KEY, value, ts):
                        new.append("new_key")
                elif not trusted_source:
                    new.append("new_" + kind)
        novelty: list[str] = ["first_login"] if first_login else []
        if new:
            novelty += ["learning"] if learning else new
        return Login(tuple(novelty), self._travel(u, e, geo, ts, place))

    def _see(self, u: _User, host: str, user: str, kind: str, value: str, label: str | None, asn: int | None,
             ts: float, unseen_is_new: bool) -> bool:
        """Record one sighting; True if it is new."""
        key = (kind, value)
        entry = u.entries.get(key)
        if entry is None:
            new = unseen_is_new
            u.entries[key] = [ts, ts, 1, label, asn]
        elif ts - entry[1] > self.expire:
            new = True
            entry[:] = [ts, ts, 1, label, asn]
        else:
            new = False
            if ts > entry[1]:
                entry[1] = ts
                entry[2] += 1
            entry[0] = min(entry[0], ts)
            if label is not None:
                entry[3] = label
            if asn is not None:
                entry[4] = asn
        self._dirty_entries.add((host, user, kind, value))
        return new

    def _travel(self, u: _User, e: Event, geo: Geo | None, ts: float, place: str | None) -> Travel | None:
        if geo is None or geo.lat is None or geo.lon is None:
            return None
        here = Spot(e.ip or "", place or "", e.time, geo.lat, geo.lon)
        journey = None
        if u.spot is not None and u.spot.time != e.time:
            journey = travel.check(u.spot, u.spot_accuracy, here, geo.accuracy_km, self.settings.max_kmh)
        if u.spot is None or e.time >= u.spot.time:
            u.spot, u.spot_accuracy = here, geo.accuracy_km
        return journey

    # -- the cache and the store -----------------------------------------------

    def _user(self, host: str, user: str) -> _User | None:
        key = (host, user)
        u = self._users.get(key)
        if u is not None:
            self._users.move_to_end(key)
            return u
        row, entries = self.store.user_history(host, user)
        if row is None:
            return None
        u = _User(row[0], row[1], row[2], row[4])
        if row[3]:
            u.spot, u.spot_accuracy = _spot_from_json(row[3])
        for r in entries:
            u.entries[(r.kind, r.value)] = [r.first_seen, r.last_seen, r.count, r.label, r.asn]
        self._cache(host, user, u)
        return u

    def _cache(self, host: str, user: str, u: _User) -> None:
        self._users[(host, user)] = u
        if len(self._users) > MAX_USERS:
            for key in list(self._users):
                if len(self._users) <= MAX_USERS * 3 // 4:
                    break
                if key not in self._dirty_users:  # unsaved users stay until saved
                    del self._users[key]

    def _current_trusts(self) -> Trusts:
        now = time.monotonic()
        if now - self._trusts_loaded > _TRUST_RELOAD_S:
            self._trusts = Trusts(self.store.trusts())
            self._trusts_loaded = now
        return self._trusts

    def changes(self, final: bool = False) -> HistoryChanges | None:
        """What to write since the last `saved()` (None: nothing)."""
        self.failures.flush()  # (the pipeline calls this once per batch: failures are counted here)
        expire_before = None
        if self._latest and (self._expired_at is None or self._latest - self._expired_at > _PURGE_EVERY):
            expire_before = self._latest - self.expire
        if not (self._dirty_users or self._dirty_entries or expire_before is not None or final):
            return None
        users = []
        for host, user in self._dirty_users:
            u = self._users[(host, user)]
            spot = _spot_json(u.spot, u.spot_accuracy) if u.spot else None
            users.append((host, user, u.first, u.last, u.logins, spot, u.located))
        entries = []
        for host, user, kind, value in self._dirty_entries:
            first, last, count, label, asn = self._users[(host, user)].entries[(kind, value)]
            entries.append((host, user, kind, value, first, last, count, label, asn))
        return HistoryChanges(users, entries, expire_before, self.failures.snapshot() if final else None)

    def saved(self, changes: HistoryChanges) -> None:
        """`changes` are in the store: forget them."""
        self._dirty_users.clear()
        self._dirty_entries.clear()
        if changes.expire_before is not None:
            self._expired_at = self._latest


def _spot_json(spot: Spot, accuracy: int | None) -> str:
    return json.dumps({"ip": spot.ip, "place": spot.place, "time": spot.time.timestamp(),
                       "lat": spot.lat, "lon": spot.lon, "accuracy_km": accuracy})


def _spot_from_json(text: str) -> tuple[Spot | None, int | None]:
    try:
        d = json.loads(text)
        spot = Spot(d["ip"], d["place"], datetime.fromtimestamp(d["time"], timezone.utc), d["lat"], d["lon"])
        return spot, d.get("accuracy_km")
    except (ValueError, KeyError, TypeError):
        return None, None
