"""Enrichment: what a login means beyond its log line.

`enricher.Enricher` is the one callable the pipeline applies to every event:
GeoIP from local databases (geoip.py, ipscope.py), the key's name
(keynames.py), per-user history and novelty (history.py, trust.py), failed
attempts before a login (failures.py) and impossible travel (travel.py).
describe.py says it in words; geoupdate.py fetches the databases.
"""
