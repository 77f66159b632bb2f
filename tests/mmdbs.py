"""Real .mmdb files for tests and benchmarks, written with `mmdb-writer` in
the layout MaxMind and DB-IP use, and read back by the real `geoip2` reader.

`WORLD` is a small world: several countries, ASNs, IPv6, and a record for a
private range (which authwatch must never look up).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet


class Place(NamedTuple):
    country_code: str
    country: str
    city: str | None
    lat: float | None
    lon: float | None
    radius: int | None  # accuracy radius in km (DB-IP Lite gives none)
    asn: int | None
    as_org: str | None


WORLD: dict[str, Place] = {
    "81.2.69.0/24": Place("GB", "United Kingdom", "London", 51.5142, -0.0931, 10, 20712, "Andrews & Arnold Ltd"),
    "177.0.0.0/16": Place("BR", "Brazil", "São Paulo", -23.5475, -46.6361, 50, 28573, "Claro NXT"),
    "89.160.20.0/24": Place("SE", "Sweden", "Linköping", 58.4167, 15.6167, 100, 29518, "Bredband2 AB"),
    "216.160.83.0/24": Place("US", "United States", "Milton", 47.2513, -122.3149, 20, 209, "CenturyLink"),
    "175.16.199.0/24": Place("CN", "China", "Changchun", 43.88, 125.3228, 50, 4837, "China Unicom"),
    "2a02:cf40::/29": Place("NO", "Norway", "Oslo", 59.955, 10.859, 20, 2119, "Telenor Norge AS"),
    "2001:67c:2e8::/48": Place("NL", "Netherlands", "Amsterdam", 52.3759, 4.8975, 5, 3333, "RIPE NCC"),
    "82.66.0.0/16": Place("FR", "France", "Paris", 48.8566, 2.3522, 20, 12322, "Free SAS"),
    "91.198.174.0/24": Place("NL", "Netherlands", "Amsterdam", 52.3759, 4.8975, 5, 14907, "Wikimedia Foundation"),
    # A private range with a record: the lookup must not reach it.
    "10.0.0.0/8": Place("ZZ", "Nowhere", "Private City", 0.0, 0.0, 1, 64512, "Must Not Show"),
}


class _Writer(MMDBWriter):
    def __init__(self, built: datetime | None, **kw):
        super().__init__(**kw)
        self.built = built

    def _build_meta(self):
        meta = super()._build_meta()
        meta["build_epoch"] = int(self.built.timestamp() if self.built else time.time())
        return meta


def city_db(path: Path | str, world: Mapping[str, Place] = WORLD, db_type: str = "DBIP-City-Lite",
            built: datetime | None = None, with_city: bool = True) -> Path:
    """A City database (or Country, with `with_city=False` and a Country type)."""
    w = _Writer(built, ip_version=6, ipv4_compatible=True, database_type=db_type, languages=["en"],
                description="authwatch test data")
    for cidr, p in world.items():
        record: dict = {
            "continent": {"code": "EU", "names": {"en": "Europe"}},
            "country": {"iso_code": p.country_code, "names": {"en": p.country}},
        }
        if with_city:
            if p.city:
                record["city"] = {"names": {"en": p.city}}
            if p.lat is not None:
                record["location"] = {"latitude": p.lat, "longitude": p.lon}
                if p.radius is not None:
                    record["location"]["accuracy_radius"] = p.radius
        w.insert_network(IPSet([IPNetwork(cidr)]), record)
    w.to_db_file(str(path))
    return Path(path)


def asn_db(path: Path | str, world: Mapping[str, Place] = WORLD,
           db_type: str = "DBIP-ASN-Lite (compat=GeoLite2-ASN)", built: datetime | None = None) -> Path:
    w = _Writer(built, ip_version=6, ipv4_compatible=True, database_type=db_type, languages=["en"],
                description="authwatch test data")
    for cidr, p in world.items():
        if p.asn is not None:
            w.insert_network(IPSet([IPNetwork(cidr)]),
                             {"autonomous_system_number": p.asn, "autonomous_system_organization": p.as_org})
    w.to_db_file(str(path))
    return Path(path)


def gzipped(path: Path) -> bytes:
    return gzip.compress(Path(path).read_bytes())
