"""The rules, quiet_hours and digest_at sections: every mistake named with
its place, key path, what was expected and a "did you mean"; warnings for
rules that can never match and keys without effect; the permissions check."""

import os
from datetime import datetime

import pytest

from authwatch import config
from tests.unit.test_config import errors_of, parse


@pytest.mark.parametrize("text, error", [
    ("rules: {name: x}", "c.yaml:1:8: rules: expected a list of rules"),
    ("rules:\n  - just a string", "c.yaml:2:5: rules[0]: expected a rule: a mapping with action:"),
    ("rules:\n  - name: x", "c.yaml:2:5: rules[0]: every rule needs an action: alert, ignore, digest, summarize"),
    ("rules:\n  - {action: alrt}", "c.yaml:2:14: rules[0].action: expected an action: alert, ignore, digest or "
                                   "summarize, got 'alrt'; did you mean 'alert'?"),
    ("rules:\n  - {action: alert, severity: critcal}",
     "c.yaml:2:31: rules[0].severity: expected a severity: info, warning, high or critical, got 'critcal'; "
     "did you mean 'critical'?"),
    ("rules:\n  - {action: ignore, match: {usr: root}}",
     "c.yaml:2:30: rules[0].match.usr: unknown key 'usr'; did you mean 'user'?"),
    ("rules:\n  - {action: ignore, severty: high}",
     "c.yaml:2:22: rules[0].severty: unknown key 'severty'; did you mean 'severity'?"),
    ("rules:\n  - {action: ignore, match: {ip: [10.0.0.0/8, 192.168.1.1/24]}}",
     "c.yaml:2:47: rules[0].match.ip[1]: 192.168.1.1/24 has bits set after the prefix length; did you mean "
     "192.168.1.0/24?"),
    ("rules:\n  - {action: ignore, match: {ip: 300.1.2.3}}",
     "rules[0].match.ip: expected an address or a network such as 203.0.113.0/24 or 2001:db8::/32, got '300.1.2.3'"),
    ("rules:\n  - {action: ignore, match: {kind: failures}}",
     "rules[0].match.kind: expected an event kind: login, failure, invalid_user, logout, session, disconnect, "
     "partial, key_found or forged, got 'failures'; did you mean 'failure'?"),
    ("rules:\n  - {action: ignore, match: {novelty: new_contry}}", "did you mean 'new_country'?"),
    ("rules:\n  - {action: ignore, match: {method: pubkey}}", "did you mean 'publickey'?"),
    ("rules:\n  - {action: ignore, match: {session: shel}}", "did you mean 'shell'?"),
    ("rules:\n  - {action: ignore, match: {country: GBR}}", "expected a two-letter country code"),
    ("rules:\n  - {action: ignore, match: {asn: ASX}}", "expected an AS number such as 64500 or AS64500"),
    ("rules:\n  - {action: ignore, match: {user: 1000}}", "rules[0].match.user: expected user names or patterns "
                                                          "such as admin*, got 1000 (quote it)"),
    ("rules:\n  - {action: ignore, match: {after_failures: 0}}", "expected a whole number from 1 to"),
    ("rules:\n  - {action: ignore, match: {impossible_travel: yes}}", "expected true or false, got 'yes'"),
    *[(f"rules:\n  - {{action: ignore, match: {{{key}: []}}}}",
       f"rules[0].match.{key}: expected a list of matches such as [{{user: root}}, {{impossible_travel: true}}], "
       "got an empty list") for key in ("any", "all", "not")],
    ("rules:\n  - {action: ignore, match: {all: root}}", "rules[0].match.all: expected a list of matches such as "
                                                         "[{user: root}, {impossible_travel: true}], got a string"),
    ("rules:\n  - {action: ignore, match: {not: {any: [{usr: x}]}}}",
     "rules[0].match.not.any[0].usr: unknown key 'usr'; did you mean 'user'?"),
    ("rules:\n  - {action: ignore, match: {time: {days: mon, from: '9:00', to: '9:00'}}}",
     "rules[0].match.time: from and to are the same time"),
    ("rules:\n  - {action: ignore, match:}", "rules[0].match: expected a mapping of conditions"),
    ("rules:\n  - {action: alert, cooldown: 30}", "rules[0].cooldown: expected a duration from 1s to 30d"),
    ("rules:\n  - {action: summarize, window: 10s}", "rules[0].window: expected a duration from 1m to 1d"),
    ("rules:\n  - {action: alert, during_quiet_hours: defer}", "rules[0].during_quiet_hours: expected what to do "
                                                                "during quiet hours: alert, digest or ignore"),
    ("rules:\n  - {action: digest, severity: critical}", "a critical alert always goes out at once"),
    ("rules:\n  - {name: a, action: alert}\n  - {name: a, action: ignore}",
     "c.yaml:3:12: rules[1].name: rule 1 has the same name"),
    ("targets: {mail: 'mailto://localhost'}\nrules:\n  - {action: alert, notify: [mail, chta]}",
     "c.yaml:3:36: rules[0].notify[1]: expected one of the targets: mail, got 'chta'"),
    ("rules:\n  - {action: alert, notify: chat}", "rules[0].notify: no target named 'chat': no targets are configured"),
    ("quiet_hours:\n  - {days: mon-fry}", "c.yaml:2:12: quiet_hours[0].days: unknown day 'fry'"),
    ("quiet_hours:\n  - {days: [], from: '22:00'}", "quiet_hours[0].days: expected at least one day"),
    ("quiet_hours:\n  - {days: sat, form: '22:00'}", "quiet_hours[0].form: unknown key 'form'; did you mean 'from'?"),
    ("quiet_hours:\n  - {days: sat, from: '25:00'}", "quiet_hours[0].from: expected a time of day HH:MM"),
    ("quiet_hours: {days: daily}", "quiet_hours: these quiet hours cover the whole week"),
    ("quiet_hours: night", "quiet_hours: expected quiet hours: a list of"),
    ("quiet_hours: []", "(days alone: all day), got an empty list"),
    ("digest_at: '8am'", "digest_at: expected a time of day HH:MM such as \"07:00\", got '8am', or off"),
    ("digest_at: off\nrules:\n  - {name: slow, action: digest}",
     "digest_at: rule 1 'slow' defers alerts into the digest, but with digest_at off and no quiet_hours"),
])
def test_errors_say_where_and_what(text, error):
    problems = errors_of(text)
    assert any(error in p for p in problems), problems


def test_errors_come_in_file_order_and_all_at_once():
    problems = errors_of("rules:\n"
                         "  - {name: a, match: {novelty: nu}, action: alrt}\n"
                         "  - {name: b, match: {usr: x}, action: ignore}\n"
                         "timezone: Mars/Olympus\n")
    assert [p.split(": ")[0] for p in problems] == ["c.yaml:2:32", "c.yaml:2:45", "c.yaml:3:23", "c.yaml:4:11"]


def test_from_after_to_is_an_overnight_window():
    s = parse("quiet_hours:\n  - {days: fri, from: '23:00', to: '06:00'}\n  - {days: sun, to: '08:00'}\n"
              "  - {days: mon, from: '20:00'}\n")
    assert [w.text for w in s.quiet_hours] == ["fri 23:00-06:00", "sun 00:00-08:00", "mon 20:00-24:00"]


@pytest.mark.parametrize("window, inside, outside", [
    # as rules.example.yaml says: only from runs until midnight, only to from 00:00, and to: "24:00" is midnight
    ('{days: fri, from: "18:00"}', ["2026-11-20T18:00", "2026-11-20T23:59"], ["2026-11-20T17:59", "2026-11-21T00:00"]),
    ('{days: mon, to: "08:00"}', ["2026-11-16T00:00", "2026-11-16T07:59"], ["2026-11-15T23:59", "2026-11-16T08:00"]),
    ('{days: fri, from: "18:00", to: "24:00"}', ["2026-11-20T23:59"], ["2026-11-21T00:00"]),
])
def test_a_window_with_only_from_or_only_to_runs_to_or_from_midnight(window, inside, outside):
    w = parse(f"quiet_hours: [{window}]\n").quiet_hours[0]
    assert [w.contains(datetime.fromisoformat(t)) for t in inside + outside] == [True] * len(inside) + [False] * len(outside)


def test_defaults_and_digest_at():
    s = parse("rules:\n  - {action: alert}\n")
    r = s.rules[0]
    assert (r.name, r.severity, r.notify, r.cooldown, r.during_quiet_hours, r.kinds) == \
        ("rule 1", "info", None, None, "digest", frozenset({"login"}))
    assert s.digest_at == (480,) and s.quiet_hours == ()
    assert parse("digest_at: ['18:30', '08:00']").digest_at == (480, 1110)
    assert parse("digest_at: off").digest_at == ()
    assert config.defaults().rules == ()


def test_a_rule_after_one_that_always_matches_is_reported():
    s = parse("rules:\n"
              "  - {name: failures, match: {kind: failure}, action: summarize}\n"
              "  - {name: everything, action: alert}\n"
              "  - {name: root, match: {user: root}, action: alert, severity: critical}\n"
              "  - {name: root failures, match: {kind: failure, user: root}, action: alert}\n"
              "  - {name: both, match: {kind: [login, invalid_user]}, action: ignore}\n")
    assert s.warnings == (
        "c.yaml:4:5: rules[2]: rule 3 'root' can never match: rule 2 'everything' before it matches every "
        "login event",
        "c.yaml:5:5: rules[3]: rule 4 'root failures' can never match: rule 1 'failures' before it matches every "
        "failure event",
    )  # rule 5 still sees invalid_user events


def test_keys_without_effect_are_warned_about():
    s = parse("rules:\n  - {match: {user: x}, action: ignore, severity: high, window: 5m}\n"
              "  - {action: alert, threshold: 3}\n")
    assert s.warnings == ("c.yaml:2:40: rules[0].severity: severity has no effect with action ignore",
                          "c.yaml:2:56: rules[0].window: window has no effect with action ignore",
                          "c.yaml:3:21: rules[1].threshold: threshold has no effect with action alert")


@pytest.mark.parametrize("url, secret", [
    ("mailtos://alerts:${SMTP_PASSWORD}@mail.example.com?to=ops@example.com", None),
    ("mailtos://alerts:hunter2hunter@mail.example.com?to=ops@example.com", "its password"),
    ("slack://T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx", "its host and its path, which may be a token"),
    ("json://127.0.0.1:8080/alerts", "its path, which may be a token"),
    ("ntfy://ntfy.example.com/topic?token=abcdef", "its path and a query value, which may be a token"),
    ("sendmail://root@localhost", None),
    ("${CHAT_URL}", None),
])
def test_secrets_written_in_the_file_are_found_and_said_where(url, secret):
    s = parse(f"targets:\n  t: {{url: '{url}'}}\n", env={"SMTP_PASSWORD": "x", "CHAT_URL": "json://localhost/x"})
    assert s.secrets == ((f"targets.t: {secret}",) if secret else ())


def test_a_file_holding_secrets_must_not_be_readable_by_others(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("targets:\n  mail: 'mailtos://alerts:hunter2hunter@mail.example.com'\n")
    path.chmod(0o644)
    why = config.insecure(config.load(str(path)))
    assert why == (f"{path}: holds secrets (targets.mail: its password) and is readable by group and others (mode 0644): run "
                   f"'chmod 600 {path}', or take the secrets from the environment with ${{NAME}}")
    path.chmod(0o600)
    assert config.insecure(config.load(str(path))) is None
    path.chmod(0o640)
    assert config.insecure(config.load(str(path))) is None  # the group is our own: root:authwatch 0640
    if os.geteuid() == 0:
        os.chown(path, 0, 65534)  # another group (nogroup) may read it
        assert "readable by group (mode 0640)" in config.insecure(config.load(str(path)))
    clean = tmp_path / "clean.yaml"
    clean.write_text("targets:\n  mail: 'mailto://localhost?to=root'\n")
    clean.chmod(0o644)
    assert config.insecure(config.load(str(clean))) is None  # nothing secret in it
    clean.chmod(0o646)
    assert "anyone may change it (mode 0646)" in config.insecure(config.load(str(clean)))


@pytest.mark.parametrize("url, secret", [
    ("https://download.example/{edition}.mmdb.gz?license_key=LicKey", True),
    ("https://acct:LicKey@download.example/{edition}.mmdb.gz", True),
    ("https://db-ip.com/account/0123456789abcdef0123456789abcdef01234567/db/{edition}.mmdb.gz", True),
    ("https://download.db-ip.com/free/dbip-{edition}-lite-{month}.mmdb.gz", False),
    ("https://mirror.example/GeoLite2-Country/{edition}.mmdb.gz?edition={edition}", False),
    ("https://download.example/{edition}.mmdb.gz?license_key=${GEOIP_KEY}", False),
])
def test_a_geoip_update_url_with_a_key_must_not_be_readable_by_others(tmp_path, monkeypatch, url, secret):
    monkeypatch.setenv("GEOIP_KEY", "LicKey")  # from the environment: not in the file
    path = tmp_path / "config.yaml"
    path.write_text(f"geoip: {{update_url: '{url}'}}\n")
    path.chmod(0o644)
    why = config.insecure(config.load(str(path)))
    assert (why is not None) == secret
    if secret:
        assert "holds secrets (geoip.update_url: its password, a query value or a key in its path)" in why
    assert config.insecure(config.defaults()) is None
