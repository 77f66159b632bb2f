"""GeoIP: real .mmdb files (tests/mmdbs.py) read by the real geoip2 reader."""

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from authwatch import config
from authwatch.enrich import geoip
from authwatch.enrich.enricher import geoip_problems, missing_geoip, open_geoip
from authwatch.enrich.geoip import DBIP_CREDIT, GeoIP
from tests.conftest import FIXTURES, REPO
from tests.mmdbs import WORLD, asn_db, city_db


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("geo")
    return str(city_db(d / "city.mmdb")), str(asn_db(d / "asn.mmdb"))


def test_countries_cities_coordinates_and_networks(world):
    g = GeoIP(*world)
    assert g.warnings == []
    london = g.lookup("81.2.69.160")
    assert (london.scope, london.country_code, london.country, london.city) == ("public", "GB", "United Kingdom", "London")
    assert (london.lat, london.lon, london.accuracy_km) == (51.5142, -0.0931, 10)
    assert (london.asn, london.as_org) == (20712, "Andrews & Arnold Ltd")
    sao_paulo = g.lookup("177.0.200.1")
    assert (sao_paulo.country_code, sao_paulo.city, sao_paulo.asn) == ("BR", "São Paulo", 28573)
    assert g.lookup("175.16.199.7").country == "China"


def test_ipv6(world):
    g = GeoIP(*world)
    oslo = g.lookup("2a02:cf40:1234::1")
    assert (oslo.country_code, oslo.city, oslo.asn, oslo.as_org) == ("NO", "Oslo", 2119, "Telenor Norge AS")
    assert g.lookup("2001:67c:2e8:22::c100:68b").as_org == "RIPE NCC"


@pytest.mark.parametrize("ip, scope", [
    ("10.20.30.40", "private"),  # the database has a record for 10/8: it must not be used
    ("192.168.1.5", "private"),
    ("172.20.0.1", "private"),
    ("fd12:3456::1", "private"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("169.254.10.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.3.2", "cgnat"),
    ("198.51.100.7", "reserved"),  # documentation
    ("2001:db8::1", "reserved"),
])
def test_addresses_that_are_not_public_are_labelled_not_looked_up(world, ip, scope):
    geo = GeoIP(*world).lookup(ip)
    assert geo.scope == scope
    assert geo[1:] == (None,) * (len(geo) - 1)


def test_an_address_absent_from_the_database_has_empty_geo_and_no_error(world):
    g = GeoIP(*world)
    geo = g.lookup("1.1.1.1")
    assert geo.scope == "public" and geo.country is None and geo.asn is None and geo.attribution is None
    assert g.warnings == []


def test_db_ip_data_carries_its_credit_and_maxmind_data_none(world, tmp_path):
    assert GeoIP(*world).lookup("81.2.69.160").attribution == DBIP_CREDIT
    maxmind = GeoIP(str(city_db(tmp_path / "c.mmdb", db_type="GeoLite2-City")),
                    str(asn_db(tmp_path / "a.mmdb", db_type="GeoLite2-ASN")))
    geo = maxmind.lookup("81.2.69.160")
    assert geo.city == "London" and geo.asn == 20712 and geo.attribution is None


def test_a_country_database_gives_the_country_only(tmp_path):
    db = city_db(tmp_path / "country.mmdb", db_type="GeoLite2-Country", with_city=False)
    geo = GeoIP(str(db), None).lookup("89.160.20.112")
    assert (geo.country_code, geo.country, geo.city, geo.lat, geo.asn) == ("SE", "Sweden", None, None, None)


def test_db_ip_lite_gives_no_accuracy_radius(tmp_path):
    world = {k: p._replace(radius=None) for k, p in WORLD.items()}
    geo = GeoIP(str(city_db(tmp_path / "c.mmdb", world)), None).lookup("81.2.69.1")
    assert geo.lat == 51.5142 and geo.accuracy_km is None


@pytest.mark.parametrize("damage, reason", [
    ("missing", "no such file"),
    ("truncated", "not a valid .mmdb database"),
    ("garbage", "not a valid .mmdb database"),
    ("empty", "not a valid .mmdb database"),
])
def test_a_bad_database_is_one_warning_and_lookups_go_on(world, tmp_path, damage, reason):
    path = tmp_path / "city.mmdb"
    data = open(world[0], "rb").read()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    g = GeoIP(str(path), world[1])
    assert len(g.warnings) == 1 and reason in g.warnings[0] and str(path) in g.warnings[0]
    geo = g.lookup("81.2.69.160")
    assert geo.country is None and geo.asn == 20712  # the ASN database still works
    assert g.lookup("10.0.0.1").scope == "private"
    assert g.take_warnings() and g.take_warnings() == []


def test_a_corrupt_search_tree_is_caught_when_opening(world, tmp_path):
    data = bytearray(open(world[0], "rb").read())
    data[:400] = b"\xff" * 400  # the start of the search tree: every lookup walks through it
    path = tmp_path / "city.mmdb"
    path.write_bytes(bytes(data))
    g = GeoIP(str(path), None)
    assert len(g.warnings) == 1 and "corrupt" in g.warnings[0]
    assert g.lookup("81.2.69.160").country is None


def test_a_database_of_the_wrong_kind_is_refused(world):
    g = GeoIP(world[1], world[0])  # swapped
    assert len(g.warnings) == 2
    assert "expected a City or Country database" in g.warnings[0]
    assert "expected an ASN database" in g.warnings[1]


def test_a_stale_database_warns_once(tmp_path):
    old = datetime.now(timezone.utc) - timedelta(days=60)
    g = GeoIP(str(city_db(tmp_path / "c.mmdb", built=old)), str(asn_db(tmp_path / "a.mmdb")))
    (warning,) = g.take_warnings()
    assert "built on" in warning and "60 days ago" in warning and "authwatch geoip update" in warning
    assert g.lookup("81.2.69.1").city == "London"  # still used
    g.refresh()
    assert g.take_warnings() == []  # said once (then again a day later, for a service that runs for months)
    g._stale_warned["location"] -= timedelta(days=1, seconds=1)
    g.refresh()
    assert len(g.take_warnings()) == 1
    recent = datetime.now(timezone.utc) - timedelta(days=44)
    assert GeoIP(str(city_db(tmp_path / "c2.mmdb", built=recent)), None).warnings == []


def test_a_replaced_database_is_reopened(world, tmp_path):
    path = tmp_path / "city.mmdb"
    city_db(path, {"81.2.69.0/24": WORLD["177.0.0.0/16"]})
    g = GeoIP(str(path), None)
    assert g.lookup("81.2.69.1").country_code == "BR"
    shutil.copy(world[0], str(path) + ".new")
    os.replace(str(path) + ".new", path)
    g.refresh()
    assert g.lookup("81.2.69.2").country_code == "GB"
    g.refresh()  # unchanged: not reopened, no warning
    assert g.take_warnings() == []


def test_databases_are_found_in_authwatch_directory_before_the_system_ones(world, tmp_path, monkeypatch):
    system = tmp_path / "usr-share-GeoIP"
    system.mkdir()
    shutil.copy(world[0], system / "GeoLite2-City.mmdb")
    monkeypatch.setattr(geoip, "SYSTEM_DIRS", [str(system)])
    settings = config.parse(f"state: {tmp_path}/state.db\n", "c.yaml")
    db = open_geoip(settings)
    assert db is not None and db.dbs["location"].path == str(system / "GeoLite2-City.mmdb")
    assert db.dbs["asn"] is None
    own = tmp_path / "geoip"
    own.mkdir()
    shutil.copy(world[0], own / "dbip-city-lite.mmdb")
    shutil.copy(world[1], own / "dbip-asn-lite.mmdb")
    db = open_geoip(settings)
    assert db.dbs["location"].path == str(own / "dbip-city-lite.mmdb")
    assert db.dbs["asn"].path == str(own / "dbip-asn-lite.mmdb")


def test_nothing_found_is_said_for_check_and_the_service(tmp_path):
    settings = config.parse(f"state: {tmp_path}/state.db\n", "c.yaml")
    assert open_geoip(settings) is None
    problem = missing_geoip(settings)
    assert problem and str(tmp_path / "geoip") in problem and "authwatch geoip update" in problem
    assert geoip_problems(settings) == [problem]
    off = config.parse(f"state: {tmp_path}/state.db\ngeoip: false\n", "c.yaml")
    assert missing_geoip(off) is None and open_geoip(off) is None and geoip_problems(off) == []


def test_check_reports_a_stale_configured_database(tmp_path):
    old = city_db(tmp_path / "c.mmdb", built=datetime.now(timezone.utc) - timedelta(days=90))
    settings = config.parse(f"geoip: {{city: {old}, asn: {tmp_path}/none.mmdb}}\n", "c.yaml")
    problems = geoip_problems(settings)
    assert len(problems) == 2
    assert any("90 days ago" in p for p in problems) and any("none.mmdb: no such file" in p for p in problems)


def test_geoip2_is_not_imported_without_a_database(tmp_path):
    code = (
        "import sys; from authwatch.enrich import geoip; geoip.SYSTEM_DIRS[:] = []; "
        "from authwatch.cli import main; "
        f"main(['replay', '--json', {str(FIXTURES / 'openssh-10-rfc3339.log')!r}]); "
        "print('geoip2' in sys.modules, file=sys.stderr)"
    )
    (tmp_path / "c.yaml").write_text(f"state: {tmp_path}/state.db\n")
    env = dict(os.environ, AUTHWATCH_CONFIG=str(tmp_path / "c.yaml"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert p.stderr.strip().splitlines()[-1] == "False", p.stderr
