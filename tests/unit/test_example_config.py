"""The issue's example configuration and rules.example.yaml: they load, and
behave as their comments say (one test per comment). Events are made with
their enrichment fields set; the last test replays a real log through real
GeoIP databases to show the same rules deciding on enrichment they did not
make up."""

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from authwatch import config, yamldoc
from authwatch.config import DeliverySettings, HistorySettings, Settings
from authwatch.deliver.message import render
from authwatch.event import Event, Geo, to_json
from authwatch.rules import spec
from authwatch.rules.engine import Engine
from authwatch.store import Outgoing
from tests.conftest import REPO
from tests.loglines import accepted, failed
from tests.mmdbs import WORLD, Place, asn_db, city_db

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")

EXAMPLE = """\
state: /var/lib/authwatch/state.db          # default per root/user, XDG for users
sources: [auto]                              # or file paths / globs, or "journal"
geoip: {city: /var/lib/GeoIP/dbip-city-lite.mmdb, asn: /var/lib/GeoIP/dbip-asn-lite.mmdb}
timezone: Europe/London                      # for quiet hours and message times
targets:                                     # name -> Apprise URL, or a mapping with url: and settings
  ops-mail: "mailtos://alerts:${SMTP_PASSWORD}@mail.example.com?to=ops@example.com"
  chat: {url: "slack://T000/B000/XXXX", rate_limit: 10}
quiet_hours:
  - {days: mon-fri, from: "22:00", to: "07:00"}
  - {days: [sat, sun]}                        # all day; an overnight window belongs to its start day
rules:                                       # first match wins
  - name: office and VPN are normal
    match: {ip: [203.0.113.0/24, "2001:db8::/32"], novelty: none}
    action: ignore
  - name: deploy bot from CI
    match: {user: deploy, asn: [64500], method: publickey}
    action: ignore
  - name: root or impossible travel
    match: {any: [{user: root}, {impossible_travel: true}]}
    action: alert
    severity: critical                       # breaks through quiet hours
    notify: [ops-mail, chat]
  - name: new place for this user
    match: {novelty: [new_country, new_asn]}
    action: alert
    severity: high
  - name: brute force summary
    match: {kind: failure}
    action: summarize                        # one message per window, counts per IP and user
    window: 10m
    threshold: 20
  - name: everything else
    action: alert
    severity: info
    cooldown: 30m                            # same user and IP not re-alerted within 30 minutes
    during_quiet_hours: digest               # deferred into one message when quiet hours end
"""
ENV = {"SMTP_PASSWORD": "p@ss"}
WEDNESDAY = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # noon, not quiet (GMT = UTC in November)
BR = Geo("public", "BR", "Brazil", "São Paulo", -23.5, -46.6, 50, 28573, "Claro NXT")
CI = Geo("public", "US", "United States", None, None, None, None, 64500, "Example CI")


@pytest.fixture
def example() -> Settings:
    return config.parse(EXAMPLE, "example.yaml", environ=ENV)


def login(t=WEDNESDAY, user="alice", ip="198.51.100.7", **fields) -> Event:
    fields.setdefault("method", "publickey")
    return Event("login", t, "web1", user, ip, 50000, methods=(fields["method"],), **fields)


def failure(t, user="root", ip="192.0.2.66") -> Event:
    return Event("failure", t, "web1", user, ip, 40000, "password", ("password",))


def test_it_loads_without_a_warning(example):
    assert example.warnings == () and len(example.rules) == 6


def test_state_default_per_root_and_user_xdg_for_users(example, monkeypatch):
    assert example.state == "/var/lib/authwatch/state.db"
    without = config.parse(EXAMPLE.replace("state: /var/lib/authwatch/state.db", "correlate_ms: 300"), "e.yaml", ENV)
    assert without.state == config.default_state_path()
    monkeypatch.undo()  # the real default_state_path, not the suite's temporary one
    monkeypatch.setenv("XDG_STATE_HOME", "/home/alice/.state")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert config.default_state_path() == "/home/alice/.state/authwatch/state.db"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert config.default_state_path() == "/var/lib/authwatch/state.db"


@pytest.mark.parametrize("sources", ["[auto]", "[/var/log/auth.log, '/var/log/remote/*.log']", "journal"])
def test_sources_auto_or_paths_and_globs_or_journal(sources):
    s = config.parse(EXAMPLE.replace("sources: [auto]", f"sources: {sources}"), "e.yaml", ENV)
    assert s.sources == {"[auto]": ("auto",), "journal": ("journal",)}.get(
        sources, ("/var/log/auth.log", "/var/log/remote/*.log"))


def test_geoip_files(example):
    assert (example.geoip.city, example.geoip.asn) == ("/var/lib/GeoIP/dbip-city-lite.mmdb",
                                                       "/var/lib/GeoIP/dbip-asn-lite.mmdb")


def test_timezone_for_quiet_hours_and_message_times(example):
    e = Engine(example)
    summer_wednesday = datetime(2026, 7, 15, 21, 30, tzinfo=UTC)  # 22:30 in London (BST)
    assert e.decide(login(summer_wednesday)).action == "digest"
    assert e.decide(login(summer_wednesday - timedelta(hours=1), user="bob")).action == "alert"  # 21:30 BST
    d = e.decide(login(summer_wednesday - timedelta(hours=2), user="carol"))
    row = Outgoing("a" * 32, "chat", 1, 0.0, d.severity, d.rule, list(d.reasons),
                   to_json(login(summer_wednesday - timedelta(hours=2), user="carol")), "pending", 0, 0.0, None, 0.0)
    assert "Login time  : 2026-07-15 20:30:00 +0100 (19:30:00 UTC)" in render(row, example.tz).text()


def test_targets_are_urls_or_mappings_with_settings(example):
    assert example.targets["ops-mail"]["url"] == "mailtos://alerts:p%40ss@mail.example.com?to=ops@example.com"
    assert example.targets["chat"]["url"] == "slack://T000/B000/XXXX" and example.targets["chat"]["rate_limit"] == 10
    assert "rate_limit" not in example.targets["ops-mail"]  # delivery.rate_limit (20) applies


def test_quiet_hours_weekdays_overnight_and_weekends_all_day(example):
    e = Engine(example)
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    quiet = {hours: e.quiet.contains(monday + timedelta(hours=hours)) for hours in
             (3, 21.9, 22, 30.9, 31, 4 * 24 + 23, 5 * 24 + 6, 5 * 24 + 12, 6 * 24 + 23.9, 7 * 24 + 3)}
    assert quiet == {3: False,  # Monday 03:00: Sunday's window is all day, not overnight
                     21.9: False, 22: True, 30.9: True, 31: False,  # Monday 22:00 to Tuesday 07:00
                     4 * 24 + 23: True, 5 * 24 + 6: True, 5 * 24 + 12: True,  # Friday night, Saturday
                     6 * 24 + 23.9: True, 7 * 24 + 3: False}  # Sunday all day; the next Monday 03:00 is not


def test_first_match_wins(example):
    d = Engine(example).decide(login(user="root", novelty=("new_country",), geo=BR))
    assert d.rule == "root or impossible travel"  # rule 3, before "new place for this user"


def test_office_and_vpn_are_normal(example):
    e = Engine(example)
    assert e.decide(login(ip="203.0.113.5")).action == "ignore"
    assert e.decide(login(ip="2001:db8:77::1")).action == "ignore"
    d = e.decide(login(ip="203.0.113.5", novelty=("new_ip",)))  # something new, even from the office
    assert d.action == "alert" and d.rule == "everything else"


def test_deploy_bot_from_ci(example):
    e = Engine(example)
    assert e.decide(login(user="deploy", geo=CI)).action == "ignore"
    assert e.decide(login(user="deploy", geo=CI, method="password")).action == "alert"
    assert e.decide(login(user="deploy", geo=BR, ip="177.0.3.20")).action == "alert"


def test_root_or_impossible_travel_is_critical_to_both_targets_and_breaks_through_quiet_hours(example):
    e = Engine(example)
    saturday_night = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    for event in (login(saturday_night, user="root"), login(saturday_night, impossible_travel=True)):
        d = e.decide(event)
        assert (d.action, d.severity, d.targets) == ("alert", "critical", ("ops-mail", "chat"))


def test_new_place_for_this_user(example):
    e = Engine(example)
    for novelty in (("new_ip", "new_network", "new_asn", "new_country"), ("new_ip", "new_asn")):
        d = e.decide(login(geo=BR, novelty=novelty))
        assert (d.rule, d.severity, d.targets) == ("new place for this user", "high", ("ops-mail", "chat"))
    assert e.decide(login(user="bob", novelty=("new_ip",))).rule == "everything else"


def test_brute_force_summary_one_message_per_window_with_counts_per_ip_and_user(example):
    e = Engine(example)
    decisions = [e.decide(failure(WEDNESDAY + timedelta(seconds=i * 20), ["root", "admin"][i % 2],
                                  f"192.0.2.{i % 5}")) for i in range(25)]
    assert {d.action for d in decisions} == {"summarize"}  # never one message per failure
    [summary] = e.due(WEDNESDAY + timedelta(minutes=10))
    assert (summary.event.summary.total, summary.event.summary.users) == (25, (("root", 13), ("admin", 12)))
    assert len(summary.event.summary.ips) == 5 and summary.decision.action == "alert"
    for i in range(19):  # the next window stays under the threshold: nothing
        e.decide(failure(WEDNESDAY + timedelta(hours=1, seconds=i)))
    assert e.due(WEDNESDAY + timedelta(hours=2)) == []


def test_everything_else_info_with_a_cooldown_of_30_minutes(example):
    e = Engine(example)
    assert e.decide(login()).severity == "info"
    assert e.decide(login(WEDNESDAY + timedelta(minutes=29))).action == "ignore"
    assert e.decide(login(WEDNESDAY + timedelta(minutes=29), ip="198.51.100.8")).action == "alert"
    assert e.decide(login(WEDNESDAY + timedelta(minutes=30))).action == "alert"


def test_everything_else_is_held_into_one_message_when_quiet_hours_end(example):
    e = Engine(example)
    friday_night = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    for hours, user in enumerate(["alice", "bob", "carol"]):
        assert e.decide(login(friday_night + timedelta(hours=hours * 12), user=user)).action == "digest"
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Friday's window, then the weekend, end Monday 00:00
    assert e.due(monday - timedelta(seconds=1)) == []
    [digest] = e.due(monday)
    assert [a.user for a in digest.event.digest.alerts] == ["alice", "bob", "carol"]
    assert digest.decision.targets == ("ops-mail", "chat")
    assert e.due(monday + timedelta(days=1)) == []  # once


# -- rules.example.yaml ---------------------------------------------------------------

EXAMPLE_FILE = REPO / "rules.example.yaml"


@pytest.fixture
def documented() -> Settings:
    return config.parse(EXAMPLE_FILE.read_text(), "rules.example.yaml", environ={"SMTP_PASSWORD": "x"})


@pytest.mark.parametrize("name", ["rules.example.yaml", "the issue's example"])
def test_the_commands_at_the_top_of_the_example_work_without_its_secret(cli, tmp_path, monkeypatch, name):
    """`check` and `replay --explain` send nothing: SMTP_PASSWORD unset is a warning there."""
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    path = EXAMPLE_FILE if name == "rules.example.yaml" else tmp_path / "example.yaml"
    if name != "rules.example.yaml":
        path.write_text(EXAMPLE)
    head = EXAMPLE_FILE.read_text()[:500]
    assert "authwatch check --config FILE" in head and "authwatch replay --explain --config FILE" in head
    log = tmp_path / "auth.log"
    log.write_text(accepted(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "alice", "81.2.69.160", 50000))
    for command in (("check",), ("replay", "--explain")):
        r = cli(*command, "--config", str(path), *((str(log),) if command[0] == "replay" else ()))
        assert r.code == 0, r.err
        assert "environment variable SMTP_PASSWORD is not set" in r.err and "authwatch: error" not in r.err


def _keys(data, found: set) -> set:
    if isinstance(data, dict):
        for k, v in data.items():
            found.add(k)
            _keys(v, found)
    elif isinstance(data, list):
        for item in data:
            _keys(item, found)
    return found


def test_rules_example_documents_every_key():
    doc = yamldoc.load(EXAMPLE_FILE.read_text(), "rules.example.yaml").data
    keys = _keys(doc, set())
    assert set(config.SECTIONS) <= set(doc)
    every = {*DeliverySettings.__dataclass_fields__, *config.GeoSettings.__dataclass_fields__, "url", "rate_limit",
             "timeout", "scope", "expire", "learning", "logins", "period", "failure_window", "key_names", "max_kmh",
             *spec.RULE_KEYS, *spec.WINDOW_KEYS, *spec._CONDITIONS}
    assert every - keys == set()
    assert {k for k in doc["delivery"]} == set(DeliverySettings.__dataclass_fields__)


def test_rules_example_states_the_defaults(documented):
    assert documented.warnings == ()
    assert documented.delivery == DeliverySettings()
    assert documented.history == HistorySettings()
    assert documented.digest_at == (8 * 60,)
    assert documented.targets["chat"]["timeout"] == 5


RULES_EXAMPLE_CASES = [  # (event, rule that decides, action)
    (login(ip="203.0.113.9"), "office and VPN are normal", "ignore"),
    (login(user="deploy", geo=CI), "deploy bot from CI", "ignore"),
    (login(user="backup", session="sftp", key_name="backup@nas2")._replace(host="db1"), "backups over SFTP", "ignore"),
    (login(user="backup", session="shell", key_name="backup@nas2")._replace(host="db1"), "everything else", "alert"),
    (login(user="root"), "root or impossible travel", "alert"),
    (login(after_failures=12), "brute force that worked", "alert"),
    (login(after_failures=9), "everything else", "alert"),
    (login(geo=BR, novelty=("new_country",)), "new place for this user", "alert"),
    (login(user="contractor-7", geo=Geo("public", "GB")), "everything else", "alert"),  # office hours, at home
    (login(user="contractor-7", geo=BR), "contractors out of hours or from abroad", "alert"),
    (login(datetime(2026, 11, 18, 19, 30, tzinfo=UTC), user="contractor-7", geo=Geo("public", "IE")),
     "contractors out of hours or from abroad", "alert"),
    (login()._replace(host="lab-3"), "lab machines", "digest"),
    (failure(WEDNESDAY)._replace(host="lab-3"), "lab machines", "digest"),
    (failure(WEDNESDAY), "brute force summary", "summarize"),
    (login(), "everything else", "alert"),
]


@pytest.mark.parametrize("event, rule, action", RULES_EXAMPLE_CASES)
def test_rules_example_rules_do_what_their_comments_say(documented, event, rule, action):
    d = Engine(documented).decide(event)
    assert (d.rule, d.action) == (rule, action)


def test_rules_example_quiet_hours_and_summaries_as_commented(documented):
    e = Engine(documented)
    night = datetime(2026, 11, 18, 23, 0, tzinfo=UTC)
    assert e.decide(login(night, user="contractor-7", geo=Geo("public", "GB"))).action == "alert"  # at once
    assert e.decide(login(night)).action == "digest"
    for i in range(30):
        e.decide(failure(night + timedelta(seconds=i)))
    outputs = e.due(night + timedelta(hours=9))
    assert [(o.event.kind, o.decision.action) for o in outputs] == [("summary", "ignore"), ("digest", "alert")]
    assert [a.kind for a in outputs[1].event.digest.alerts] == ["login"]  # the night's attack is not in it


# -- the whole pipeline, with real GeoIP databases -----------------------------------------


def test_the_example_decides_on_real_enrichment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "x")
    world = {**WORLD, "34.120.0.0/16": Place("US", "United States", None, None, None, None, 64500, "Example CI")}
    city, asn = city_db(tmp_path / "city.mmdb", world), asn_db(tmp_path / "asn.mmdb", world)
    conf = tmp_path / "config.yaml"
    conf.write_text(EXAMPLE.replace("/var/lib/authwatch/state.db", str(tmp_path / "state.db"))
                    .replace("/var/lib/GeoIP/dbip-city-lite.mmdb", str(city))
                    .replace("/var/lib/GeoIP/dbip-asn-lite.mmdb", str(asn)))
    monday = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    lines = [accepted(monday + timedelta(days=d), "alice", "81.2.69.160", 50000 + d) for d in range(8)]
    lines += [accepted(monday + timedelta(days=8), "deploy", "34.120.0.7", 51000, key="SHA256:" + "D" * 43)]
    lines += [failed(monday + timedelta(days=8, seconds=s), "admin", "175.16.199.4", 40000 + s) for s in range(25)]
    lines += [accepted(monday + timedelta(days=10), "alice", "177.0.3.20", 52000)]  # 2 days later: not too fast
    (tmp_path / "auth.log").write_text("".join(lines))
    r = cli("replay", "--json", "--config", str(conf), str(tmp_path / "auth.log"))
    assert r.code == 0, r.err
    said = [(e["kind"], e["user"], e["alert"]["rule"], e["alert"]["severity"], e["alert"]["held"])
            for e in r.json()]
    weekday = ("login", "alice", "everything else", "info", False)
    assert said == [
        *[weekday] * 5,  # Monday to Friday, 09:00 (a day apart: no cooldown)
        *[weekday[:4] + (True,)] * 2,  # Saturday and Sunday: held for the digest
        ("digest", None, None, "info", False),  # sent as the weekend's quiet hours end
        weekday,  # the next Monday; then deploy's login is ignored
        ("summary", None, "brute force summary", "info", False),
        ("login", "alice", "new place for this user", "high", False),  # São Paulo: new country and ASN
    ]
    digest = r.json()[7]
    assert digest["time"] == "2026-11-09T00:00:00+00:00" and digest["digest"]["total"] == 2
    summary = r.json()[9]["summary"]
    assert (summary["total"], summary["ips"], summary["users"]) == (25, [["175.16.199.4", 25]], [["admin", 25]])
