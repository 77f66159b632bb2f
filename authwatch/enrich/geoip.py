"""Where an address is: local .mmdb files read with the `geoip2` library.

A City (or Country) database gives the country, city and coordinates, an ASN
database the network's number and owner: MaxMind GeoLite2/GeoIP2 and DB-IP
Lite share the format. No network request is ever made per event.

Databases are the configured paths, else the first found of the usual names
in authwatch's own GeoIP directory (where `authwatch geoip update` writes),
`/var/lib/GeoIP` and `/usr/share/GeoIP`. A database that is missing,
unreadable, truncated or corrupt gives one warning and events flow on
without it; one older than `max_age` gives a warning that it is stale.
`geoip2` is imported only when there is a database to open (it costs ~60 ms).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from authwatch.enrich import ipscope
from authwatch.event import Geo

DBIP_CREDIT = "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
SYSTEM_DIRS = ["/var/lib/GeoIP", "/usr/share/GeoIP"]
# File names looked for, best first: City before Country, commercial before free.
CITY_NAMES = (
    "dbip-city-lite.mmdb",  # what `authwatch geoip update` writes
    "GeoIP2-City.mmdb",
    "GeoLite2-City.mmdb",
    "dbip-city.mmdb",
    "GeoIP2-Country.mmdb",
    "GeoLite2-Country.mmdb",
    "dbip-country-lite.mmdb",
)
ASN_NAMES = ("dbip-asn-lite.mmdb", "GeoLite2-ASN.mmdb", "GeoIP2-ASN.mmdb", "dbip-asn.mmdb")
# A database is probed with these on opening, so a corrupt tree shows at once.
_PROBES = ("8.8.8.8", "2001:4860:4860::8888")
# Which databases an address was looked up in (GeoIP.loaded), as bits: history
# calls a country (ASN) new only for a user with a login looked up in one.
LOCATION = 1  # a City or Country database
ASN = 2
_CACHE = 65536  # addresses remembered (each lookup costs ~20 us uncached)
_RECHECK_S = 60.0  # how often (wall clock) to look whether a database file was replaced


class GeoError(Exception):
    """A database cannot be used (one line, for a warning)."""


class Database(NamedTuple):
    path: str
    kind: str  # city, country, asn
    type: str  # the database_type in its metadata, e.g. DBIP-City-Lite
    built: datetime
    reader: Any  # geoip2.database.Reader
    stamp: tuple  # (device, inode, mtime) when opened

    @property
    def attribution(self) -> str | None:
        return DBIP_CREDIT if self.type.upper().startswith("DBIP") else None


def open_database(path: str, want: str) -> Database:
    """Open `path` as a `want` ("location": City or Country; "asn") database.
    Raises GeoError with a one-line reason."""
    stamp = _stamp(path)
    if stamp is None:
        raise GeoError(f"{path}: no such file")
    try:
        import geoip2.database
        import geoip2.errors
        import maxminddb

        reader = geoip2.database.Reader(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
        reason = (getattr(e, "strerror", None) or "not a valid .mmdb database (truncated or corrupt?)").lower()
        raise GeoError(f"{path}: {reason}") from None
    meta = reader.metadata()
    db_type = str(meta.database_type)
    kind = _kind(db_type)
    if kind is None or (want == "asn") != (kind == "asn"):
        reader.close()
        expected = "an ASN" if want == "asn" else "a City or Country"
        raise GeoError(f"{path}: is a {db_type!r} database, expected {expected} database")
    db = Database(path, kind, db_type, datetime.fromtimestamp(meta.build_epoch, timezone.utc), reader, stamp)
    try:
        for ip in _PROBES:
            if ":" in ip and meta.ip_version == 4:
                continue
            try:
                _query(db, ip)
            except geoip2.errors.AddressNotFoundError:
                pass
    except (maxminddb.InvalidDatabaseError, ValueError, KeyError, TypeError) as e:
        reader.close()
        raise GeoError(f"{path}: corrupt database ({e})") from None
    return db


def _stamp(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def _kind(db_type: str) -> str | None:
    if "City" in db_type:
        return "city"
    if "Country" in db_type:
        return "country"
    if "GeoLite2-ASN" in db_type:  # DB-IP's ASN type says "(compat=GeoLite2-ASN)"
        return "asn"
    return None


def _query(db: Database, ip: str) -> Any:
    if db.kind == "city":
        return db.reader.city(ip)
    if db.kind == "country":
        return db.reader.country(ip)
    return db.reader.asn(ip)


def find(directory: str | None, names: Sequence[str]) -> str | None:
    """The first existing file of `names` in authwatch's directory, then the system's."""
    for d in ([directory] if directory else []) + SYSTEM_DIRS:
        for name in names:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    return None


def searched(directory: str | None) -> list[str]:
    return ([directory] if directory else []) + list(SYSTEM_DIRS)


class GeoIP:
    """Lookups in the location and ASN databases, cached per address.

    `warnings` collects one line per problem (a database missing, corrupt,
    stale or replaced by a bad file); `take_warnings()` hands them over once.
    """

    def __init__(self, location: str | None, asn: str | None, max_age: timedelta | None = timedelta(days=45)):
        self.max_age = max_age
        self.paths = {"location": location, "asn": asn}
        self.dbs: dict[str, Database | None] = {"location": None, "asn": None}
        self.warnings: list[str] = []
        self._cache: dict[str, Geo] = {}
        self._tried: dict[str, tuple | None] = {}  # want -> stamp of the file last opened (or tried)
        self._stale_warned: dict[str, datetime] = {}  # want -> when its staleness was last said
        self._checked = time.monotonic()
        for want, path in self.paths.items():
            if path:
                self._open(want, path)

    @property
    def databases(self) -> list[Database]:
        return [db for db in self.dbs.values() if db is not None]

    @property
    def loaded(self) -> int:
        """LOCATION | ASN: the databases open now."""
        return (LOCATION if self.dbs["location"] is not None else 0) | (ASN if self.dbs["asn"] is not None else 0)

    def take_warnings(self) -> list[str]:
        out, self.warnings = self.warnings, []
        return out

    def _open(self, want: str, path: str) -> None:
        self._tried[want] = _stamp(path)
        try:
            db = open_database(path, want)
        except GeoError as e:
            self.warnings.append(f"GeoIP: {e}; going on without it")
            return
        old = self.dbs[want]
        if old is not None:
            old.reader.close()
        self.dbs[want] = db
        self._cache.clear()
        self._stale_warned.pop(want, None)
        self._check_age(want)

    def _check_age(self, want: str) -> None:
        """Warn when a database is stale: on opening, then once a day."""
        db = self.dbs[want]
        if db is None or self.max_age is None:
            return
        now = datetime.now(timezone.utc)
        age = now - db.built
        last = self._stale_warned.get(want)
        if age > self.max_age and (last is None or now - last > timedelta(days=1)):
            self._stale_warned[want] = now
            self.warnings.append(
                f"GeoIP: {db.path} was built on {db.built:%Y-%m-%d}, {age.days} days ago "
                f"(more than {self.max_age.days}): places and networks may be wrong; "
                "run 'authwatch geoip update'"
            )

    def refresh(self) -> None:
        """Reopen a database whose file was replaced (by `geoip update`), and
        say again (daily) that one is stale. Lookups call this once a minute."""
        for want, path in self.paths.items():
            if path and _stamp(path) not in (None, self._tried.get(want)):
                self._open(want, path)
            else:
                self._check_age(want)

    def lookup(self, ip: str) -> Geo:
        geo = self._cache.get(ip)
        if geo is not None:
            return geo
        now = time.monotonic()
        if now - self._checked > _RECHECK_S:
            self._checked = now
            self.refresh()
        geo = self._lookup(ip)
        if len(self._cache) >= _CACHE:
            self._cache.clear()
        self._cache[ip] = geo
        return geo

    def _lookup(self, ip: str) -> Geo:
        scope = ipscope.scope(ip)
        if scope != ipscope.PUBLIC:
            return Geo(scope)
        values: dict[str, Any] = {}
        credit = None
        for want in ("location", "asn"):
            db = self.dbs[want]
            if db is None:
                continue
            record = self._record(want, db, ip)
            if record is None:
                continue
            credit = credit or db.attribution
            if want == "asn":
                values["asn"] = record.autonomous_system_number
                values["as_org"] = record.autonomous_system_organization
                continue
            country = record.country if record.country.iso_code else record.registered_country
            values["country_code"] = country.iso_code
            values["country"] = country.name
            if db.kind == "city":
                values["city"] = record.city.name
                loc = record.location
                if loc.latitude is not None and loc.longitude is not None:
                    values["lat"], values["lon"] = loc.latitude, loc.longitude
                    values["accuracy_km"] = loc.accuracy_radius
        return Geo(scope, attribution=credit, **values)

    def _record(self, want: str, db: Database, ip: str) -> Any:
        import geoip2.errors
        import maxminddb

        try:
            return _query(db, ip)
        except geoip2.errors.AddressNotFoundError:
            return None
        except (maxminddb.InvalidDatabaseError, ValueError, KeyError, TypeError) as e:
            self.warnings.append(f"GeoIP: {db.path}: corrupt database ({e}); going on without it")
            db.reader.close()
            self.dbs[want] = None
            self._cache.clear()
            return None
