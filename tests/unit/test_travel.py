"""Distances and speeds."""

from datetime import timedelta

from authwatch.enrich.travel import check, distance_km
from authwatch.event import Spot
from tests.loglines import at


def test_known_distances():
    assert round(distance_km(51.5074, -0.1278, 48.8566, 2.3522)) == 344  # London - Paris
    assert abs(distance_km(40.7128, -74.0060, 35.6762, 139.6503) - 10_850) < 5  # New York - Tokyo
    assert distance_km(10, 20, 10, 20) == 0


def test_both_radii_are_taken_off_and_time_is_at_least_a_second():
    london = Spot("81.2.69.1", "London", at(0), 51.5074, -0.1278)
    paris = Spot("82.66.1.1", "Paris", at(0) + timedelta(minutes=10), 48.8566, 2.3522)
    t = check(london, 10, paris, 20, 1000)
    assert t.km == 314 and 1880 < t.kmh < 1885  # 314 km in 10 minutes
    assert check(london, 200, paris, 200, 1000) is None  # could be the same place
    assert check(london, None, paris, None, 1000).km == 244  # 50 km assumed for each
    same_second = Spot("82.66.1.1", "Paris", at(0), 48.8566, 2.3522)
    assert abs(check(london, 10, same_second, 20, 1000).kmh - 314 * 3600) < 3600
