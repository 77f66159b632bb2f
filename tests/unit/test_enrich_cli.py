"""replay with enrichment, and `learn`, `history`, `trust`, `geoip lookup`,
through the command line."""

import gzip
import json
import os
import re

import jsonschema
import pytest

from authwatch.store import Store
from tests.conftest import REPO
from tests.loglines import accepted, at, failed, fingerprint
from tests.mmdbs import asn_db, city_db

SCHEMA = json.loads((REPO / "docs" / "event.schema.json").read_text())
KEY = fingerprint(b"alice's laptop key")


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    d = tmp_path_factory.mktemp("geo")
    return city_db(d / "city.mmdb"), asn_db(d / "asn.mmdb")


@pytest.fixture
def config(tmp_path, dbs):
    c = tmp_path / "config.yaml"
    c.write_text(f"state: {tmp_path}/state.db\ngeoip: {{city: {dbs[0]}, asn: {dbs[1]}}}\n"
                 "history: {learning: {logins: 2, period: 1d}}\n")
    return str(c)


def write(path, lines):
    path.write_text("".join(lines))
    return str(path)


def week_in_london(days=3):
    return [accepted(at(days=d), "alice", "81.2.69.160", key=KEY) for d in range(days)]


def test_replay_json_carries_every_enrichment_and_follows_the_schema(cli, tmp_path, config):
    log = write(tmp_path / "auth.log", week_in_london() + [
        *[failed(at(days=3, hours=i / 60), "alice", "177.0.0.9") for i in range(7)],
        accepted(at(days=3, hours=1), "alice", "177.0.0.9", key=KEY),
    ])
    events = cli("replay", "--json", "--config", config, log).json()
    for e in events:
        jsonschema.validate(e, SCHEMA)
    first, brazil = events[0], events[-1]
    assert first["novelty"] == ["first_login", "learning"] and first["after_failures"] == 0
    assert first["geo"]["city"] == "London" and first["geo"]["asn"] == 20712
    assert first["geo"]["attribution"].startswith("IP Geolocation by DB-IP")
    assert [e["novelty"] for e in events[1:3]] == [[], []]
    assert brazil["novelty"] == ["new_ip", "new_network", "new_asn", "new_country"]
    assert brazil["after_failures"] == 7
    assert brazil["impossible_travel"] is False  # a day after the last London login
    assert brazil["alert"]["reasons"][:2] == ["login after 7 failed attempts", "first login from Brazil for alice"]


def test_replay_block_shows_place_network_novelty_travel_and_the_credit(cli, tmp_path, config):
    log = write(tmp_path / "auth.log", week_in_london() + [
        accepted(at(days=2, hours=1), "alice", "177.0.0.9", key=KEY)])
    r = cli("replay", "--config", config, log)
    assert r.code == 0, r.err
    last = r.out.strip().split("\n\n")[-2].splitlines()
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in last[1:]}
    assert rows["place"] == "São Paulo, Brazil (BR)  (within 50 km)"
    assert rows["network"] == "AS28573 Claro NXT"
    assert rows["novelty"] == "new IP, new network, new ASN, new country"
    assert rows["travel"].startswith("IMPOSSIBLE: 9,4") and "from London, United Kingdom (81.2.69.160" in rows["travel"]
    assert rows["why"].startswith("impossible travel for alice: 9,4")
    assert r.out.strip().splitlines()[-1] == "(IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0)"


def test_replay_without_geoip_still_labels_scopes_and_tracks_history(cli, tmp_path):
    log = write(tmp_path / "auth.log", [accepted(at(0), "bob", "10.1.2.3"), accepted(at(1), "bob", "10.1.2.3")])
    events = cli("replay", "--json", log).json()
    assert [e["geo"] for e in events] == [{"scope": "private", **dict.fromkeys(
        ["country_code", "country", "city", "lat", "lon", "accuracy_km", "asn", "as_org", "attribution"])}] * 2
    assert [e["novelty"] for e in events] == [["first_login", "learning"], []]
    assert "IP Geolocation" not in cli("replay", log).out


def test_a_user_known_only_from_the_lan_is_told_of_a_new_country(cli, tmp_path, config):
    log = write(tmp_path / "auth.log", [accepted(at(days=d), "erin", "10.0.0.5") for d in range(3)] + [
        accepted(at(days=3), "erin", "177.0.3.20")])
    brazil = cli("replay", "--json", "--config", config, log).json()[-1]
    assert brazil["novelty"] == ["new_ip", "new_network", "new_asn", "new_country"]
    assert "first login from Brazil for erin" in brazil["alert"]["reasons"]


def test_a_configured_but_broken_database_is_one_warning(cli, tmp_path):
    (tmp_path / "bad.mmdb").write_bytes(b"not a database")
    c = tmp_path / "c.yaml"
    c.write_text(f"geoip: {{city: {tmp_path}/bad.mmdb}}\n")
    log = write(tmp_path / "auth.log", week_in_london())
    r = cli("replay", "--json", "--config", str(c), log)
    assert r.code == 0 and len(r.json()) == 3
    assert r.err == f"authwatch: warning: GeoIP: {tmp_path}/bad.mmdb: not a valid .mmdb database (truncated or corrupt?); going on without it\n"


def test_learn_reads_rotated_sets_oldest_first_and_sends_nothing(cli, tmp_path, config):
    d = tmp_path / "log"
    d.mkdir()
    (d / "auth.log.2.gz").write_bytes(gzip.compress(accepted(at(0), "alice", "81.2.69.160").encode()))
    write(d / "auth.log.1", [accepted(at(days=1), "alice", "82.66.1.1")])
    write(d / "auth.log", [accepted(at(days=2), "alice", "177.0.0.9")])
    shell_order = [str(d / n) for n in ("auth.log", "auth.log.1", "auth.log.2.gz")]
    r = cli("learn", "--config", config, *shell_order)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0].startswith("read 3 logins of 1 user from 3 files (3 lines), oldest first: "
                                            f"{d}/auth.log.2.gz, {d}/auth.log.1, {d}/auth.log")
    with Store(str(tmp_path / "state.db")) as s:
        assert s.alert_count() == 0
        rows = {r.value: r for r in s.history("alice")}
    assert rows["81.2.69.160"].first_seen == at(0).timestamp() and rows["177.0.0.9"].last_seen == at(days=2).timestamp()
    assert cli("learn", "--config", config, *shell_order).code == 0  # again: counted once
    with Store(str(tmp_path / "state.db")) as s:
        assert [r.count for r in s.history("alice")] == [1, 1, 1]
    # After learning, the service (here: replay on the same state) knows these places.
    later = write(tmp_path / "new.log", [accepted(at(days=3), "alice", "82.66.1.1")])
    (e,) = cli("replay", "--json", "--config", config, "--state", str(tmp_path / "state.db"), later).json()
    assert e["novelty"] == []


def test_learn_with_a_missing_file_reads_the_others_and_exits_2(cli, tmp_path, config):
    log = write(tmp_path / "auth.log", week_in_london())
    r = cli("learn", "--config", config, log, str(tmp_path / "gone.log"))
    assert r.code == 2 and r.err == f"authwatch: error: {tmp_path}/gone.log: no such file\n"


def test_learn_counts_a_cut_off_gzip_file_as_read_in_part(cli, tmp_path, config):
    whole = gzip.compress("".join(accepted(at(hours=h), "alice", "81.2.69.160") for h in range(2000)).encode())
    (tmp_path / "auth.log.2.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "auth.log.1.gz").write_text(accepted(at(days=90), "alice", "82.66.1.1"))  # plain, named .gz
    r = cli("learn", "--config", config, str(tmp_path / "auth.log.2.gz"), str(tmp_path / "auth.log.1.gz"))
    assert r.code == 2
    summary, held = r.out.splitlines()
    assert re.fullmatch(r"read ([1-9][\d,]*) logins of 1 user from 2 files \(\1 lines; 1 not read to the end\), "
                        f"oldest first: {tmp_path}/auth.log.2.gz, {tmp_path}/auth.log.1.gz", summary), summary
    assert held == f"history now holds 1 user in {tmp_path}/state.db"
    assert r.err == (f"authwatch: error: {tmp_path}/auth.log.2.gz: cannot read: "
                     "Compressed file ended before the end-of-stream marker was reached\n")
    with Store(str(tmp_path / "state.db")) as s:
        assert {r.value for r in s.history("alice")} == {"81.2.69.160", "82.66.1.1"}


def test_history_table(cli, tmp_path, config):
    log = write(tmp_path / "auth.log", week_in_london() + [
        accepted(at(days=3), "bob", "2a02:cf40::7"), accepted(at(days=3), "evil\x1b[31m", "10.0.0.1")])
    cli("learn", "--config", config, log)
    out = cli("history", "--config", config).out.splitlines()
    assert out[0].split() == ["USER", "HOST", "IP", "PLACE", "/", "NAME", "ASN", "FIRST", "SEEN", "LAST", "SEEN", "COUNT"]
    assert out[1].split() == ["alice", "web1", "81.2.69.160", "London,", "United", "Kingdom", "AS20712", "Andrews",
                              "&", "Arnold", "Ltd", "2026-11-02", "09:00", "2026-11-04", "09:00", "3"]
    assert out[2].split()[:5] == ["bob", "web1", "2a02:cf40::7", "Oslo,", "Norway"]
    assert out[3].startswith("evil\\x1b[31m  web1  10.0.0.1")  # escaped
    alice = cli("history", "alice", "--kind", "all", "--config", config).out
    assert "country  GB" in alice and "asn      20712" in alice and "network  81.2.69.0/24" in alice
    assert f"key      {KEY}" in alice
    (row,) = [json.loads(line) for line in cli("history", "bob", "--json", "--config", config).out.splitlines()]
    assert row["value"] == "2a02:cf40::7" and row["first_seen"] == "2026-11-05T09:00:00+00:00"
    assert cli("history", "nobody", "--config", config).out == "no history for nobody yet\n"


def test_history_says_what_kind_of_address_has_no_place(cli, tmp_path, config):
    log = write(tmp_path / "auth.log", [accepted(at(hours=i), "erin", ip) for i, ip in enumerate(
        ["10.0.0.5", "127.0.0.1", "100.64.1.1", "fe80::1", "198.51.100.7", "8.8.8.8", "177.0.3.20"])])
    cli("learn", "--config", config, log)
    head, *rows = cli("history", "--config", config).out.splitlines()
    ip, place, asn = (head.index(column) for column in ("IP", "PLACE", "ASN"))
    places = {row[ip:place].strip(): row[place:asn].strip() for row in rows}
    assert places == {"10.0.0.5": "private network", "127.0.0.1": "this machine (loopback)",
                      "100.64.1.1": "carrier-grade NAT (shared address)", "fe80::1": "link-local network",
                      "198.51.100.7": "reserved address (not routed on the internet)", "8.8.8.8": "",
                      "177.0.3.20": "São Paulo, Brazil"}  # as replay says; 8.8.8.8: public, not in the database
    networks = cli("history", "erin", "--kind", "network", "--config", config).out
    assert "10.0.0.0/24      private network" in networks


def test_trust(cli, tmp_path, config):
    assert cli("trust", "alice", "177.0.0.0/16", "--config", config).out == \
        "alice: 177.0.0.0/16 is trusted on every host with no end\n"
    r = cli("trust", "alice", KEY, "--host", "web1", "--until", "2030-01-01", "--config", config)
    assert r.out == f"alice: {KEY} is trusted on web1 until 2030-01-01 00:00\n"
    assert len(cli("trust", "--list", "--config", config).out.splitlines()) == 2
    log = write(tmp_path / "auth.log", week_in_london() + [accepted(at(days=3), "alice", "177.0.0.9", key=KEY)])
    state = str(tmp_path / "state.db")
    assert cli("replay", "--json", "--config", config, "--state", state, log).json()[-1]["novelty"] == []
    assert cli("trust", "--remove", "alice", "177.0.0.0/16", "--config", config).code == 0
    other = write(tmp_path / "other.log", [accepted(at(days=4), "alice", "177.0.1.9", key=KEY)])
    assert cli("replay", "--json", "--config", config, "--state", state, other).json()[-1]["novelty"][0] == "new_ip"


@pytest.mark.parametrize("args, message", [
    (["alice", "not-an-address"], "'not-an-address' is not an IP address"),
    (["alice"], "give USER and IP|CIDR|KEY"),
    (["alice", "1.2.3.4", "--until", "someday"], "--until 'someday': expected an ISO 8601 time"),
    (["--remove", "alice", "9.9.9.9"], "9.9.9.9/32 is not trusted for alice"),
    (["alice", "10.0.0.1/8"], "'10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"),
    (["alice", "1.2.3.4", "--until", "2020-01-01"], "--until 2020-01-01: that time has passed"),
    (["--list", "alice", "1.2.3.4"], "give at most a USER"),
])
def test_trust_mistakes_are_usage_errors(cli, config, args, message):
    r = cli("trust", *args, "--config", config)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err


def test_trust_until_a_duration(cli, config):
    r = cli("trust", "alice", "81.2.69.0/24", "--until", "30d", "--config", config)
    assert r.code == 0 and " until 20" in r.out


def test_geoip_lookup(cli, config, dbs):
    out = cli("geoip", "lookup", "81.2.69.160", "--config", config).out.splitlines()
    assert out[:5] == ["address   81.2.69.160", "scope     public", "place     London, United Kingdom (GB)",
                       "location  51.5142, -0.0931, within 10 km", "network   AS20712 Andrews & Arnold Ltd"]
    assert out[5].startswith(f"database  {dbs[0]} (DBIP-City-Lite, built ")
    assert out[-1] == "credit    IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
    geo = json.loads(cli("geoip", "lookup", "2a02:cf40::1", "--json", "--config", config).out)
    assert geo["country_code"] == "NO" and geo["scope"] == "public"
    assert "scope     private" in cli("geoip", "lookup", "10.1.1.1", "--config", config).out
    assert "place     not in the database" in cli("geoip", "lookup", "1.1.1.1", "--config", config).out


def test_geoip_lookup_without_a_database_and_with_a_bad_address(cli, tmp_path):
    r = cli("geoip", "lookup", "8.8.8.8")
    assert r.code == 0 and "scope     public" in r.out and "no database found" in r.err
    r = cli("geoip", "lookup", "8.8.8.888")
    assert r.code == 2 and r.err == "authwatch: error: geoip lookup: '8.8.8.888' is not an IPv4 or IPv6 address\n"


def test_help_answers(cli):
    for command in (["learn"], ["history"], ["trust"], ["geoip", "update"], ["geoip", "lookup"]):
        r = cli(*command, "--help")
        assert r.code == 0 and "usage: authwatch" in r.out and "Example" in r.out
    assert cli("geoip").code == 2
    assert os.environ.get("TZ") == "UTC"


def test_read_only_commands_do_not_create_a_state(cli, config, tmp_path):
    missing = str(tmp_path / "typo.db")
    for args in (["history", "--state", missing], ["trust", "--list", "--state", missing]):
        r = cli(*args, "--config", config)
        assert r.code == 2 and "no state database" in r.err
    assert not (tmp_path / "typo.db").exists()


def test_trust_list_shows_only_the_user_asked_for(cli, config):
    assert cli("trust", "alice", "198.51.100.7", "--config", config).code == 0
    assert cli("trust", "bob", "198.51.100.8", "--config", config).code == 0
    r = cli("trust", "--list", "bob", "--config", config)
    assert r.out.splitlines() == ["bob: 198.51.100.8/32 is trusted on every host with no end"]


def test_learn_warns_about_a_file_with_no_line_understood(cli, tmp_path, config):
    log = tmp_path / "short.log"  # `journalctl -o short`'s layout, with the sshd tag's colon lost
    log.write_text("Nov 22 16:05:59 web1 sshd[123] Accepted password for bob from 1.2.3.4 port 22 ssh2\n")
    r = cli("learn", "--config", config, str(log))
    assert r.code == 0
    assert f"authwatch: warning: {log}: none of the 1 line read was understood (" in r.err
