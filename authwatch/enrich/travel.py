"""Impossible travel: two consecutive logins of one user farther apart than
anyone could travel in the time between them.

The distance is the great-circle distance minus both places' accuracy radii
(a database that gives none, such as DB-IP Lite, is taken to be accurate to
`ASSUMED_ACCURACY_KM`), so two fuzzy places close together never count. The
time is at least one second (classic syslog timestamps have whole seconds).
"""

from __future__ import annotations

import math

from authwatch.event import Spot, Travel

EARTH_KM = 6371.0088
ASSUMED_ACCURACY_KM = 50


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def check(start: Spot, start_accuracy: int | None, end: Spot, end_accuracy: int | None,
          max_kmh: float) -> Travel | None:
    """The journey from `start` to `end` if it is faster than `max_kmh`, else None."""
    slack = (start_accuracy or ASSUMED_ACCURACY_KM) + (end_accuracy or ASSUMED_ACCURACY_KM)
    km = distance_km(start.lat, start.lon, end.lat, end.lon) - slack
    if km <= 0:
        return None
    hours = max(abs((end.time - start.time).total_seconds()), 1.0) / 3600
    kmh = km / hours
    if kmh <= max_kmh:
        return None
    return Travel(start, end, round(km), round(kmh))
