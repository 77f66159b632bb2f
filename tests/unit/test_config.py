"""The configuration spine: search path, validation with positions, ${ENV}."""

import os
import time

import pytest

from authwatch import config
from authwatch.errors import ConfigError, UsageError
from authwatch.store import Store


def parse(text, env=None):
    return config.parse(text, "c.yaml", environ=env or {})


def errors_of(text, env=None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse(text, env)
    return e.value.problems


def test_defaults_without_a_file(tmp_path):
    s = config.load()
    assert s.file is None and s.sources == ("auto",) and s.correlate_ms == 300
    assert s.state.endswith("authwatch/state.db")


def test_search_path(tmp_path, monkeypatch):
    home_config = tmp_path / "xdg-config" / "authwatch" / "config.yaml"
    home_config.parent.mkdir(parents=True)
    home_config.write_text("timezone: Asia/Tokyo\n")
    monkeypatch.setattr(config, "ROOT_CONFIG", str(home_config))  # root looks in /etc instead
    assert config.load().timezone == "Asia/Tokyo"
    env_config = tmp_path / "env.yaml"
    env_config.write_text("timezone: Europe/Paris\n")
    monkeypatch.setenv("AUTHWATCH_CONFIG", str(env_config))
    assert config.load().timezone == "Europe/Paris"
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("timezone: UTC\n")
    assert config.load(str(explicit)).timezone == "UTC"


def test_a_named_file_must_exist(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="no such configuration file"):
        config.load(str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("AUTHWATCH_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(UsageError, match=r"\$AUTHWATCH_CONFIG"):
        config.load()


def test_full_example():
    s = parse(
        "state: ~/aw.db\n"
        "sources: [auto, /var/log/auth.log, '/var/log/remote/*.log', journal]\n"
        "timezone: Europe/London\n"
        "correlate_ms: 0\n"
        "targets:\n"
        "  ops-mail: mailtos://u:p@mail.example.com?to=ops@example.com\n"
        "  chat: {url: 'slack://T000/B000/XXXX', rate_limit: 10}\n"
    )
    assert s.state == os.path.expanduser("~/aw.db")
    assert s.sources == ("auto", "/var/log/auth.log", "/var/log/remote/*.log", "journal")
    assert str(s.tz) == "Europe/London" and s.correlate_ms == 0
    assert s.targets["chat"] == {"url": "slack://T000/B000/XXXX", "rate_limit": 10, "where": "c.yaml:7:15"}
    assert s.targets["ops-mail"]["url"].startswith("mailtos://")


def test_errors_name_file_line_column_key_and_expectation():
    problems = errors_of("state: /x\ntimezone: Mars/Olympus\nsources:\n  - auto\n  - relative/path\n")
    assert problems == [
        "c.yaml:2:11: timezone: unknown time zone 'Mars/Olympus'; expected an IANA name such as Europe/London or UTC",
        "c.yaml:5:5: sources[1]: expected an absolute path (or auto, journal, journal:DIR), got 'relative/path'",
    ]


@pytest.mark.parametrize("name, shown", [
    ("America", "'America'"),  # a directory of the zone database, not a zone
    ("Europe/" + "x" * 5000, "'Europe/" + "x" * 53 + "...'"),  # longer than a file name may be
])
def test_a_zone_name_that_is_no_zone_file_is_a_config_error(name, shown):
    assert errors_of(f"timezone: {name}\n") == [
        f"c.yaml:1:11: timezone: unknown time zone {shown}; expected an IANA name such as Europe/London or UTC"]


@pytest.mark.parametrize("tz", ["America", "Europe/" + "x" * 5000, "Nowhere/Land"])
def test_tz_in_the_environment_that_is_no_zone_warns_and_the_system_zone_is_used(monkeypatch, tz):
    monkeypatch.setenv("TZ", tz)
    for s in (config.load(), parse("state: /x\n")):
        (warning,) = s.warnings
        assert warning.startswith("TZ='") and warning.endswith(
            "' in the environment is not a time zone; the system's (/etc/localtime) is used")
        assert len(warning) < 200 and s.tz is not None
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert (str(config.load().tz), config.load().warnings) == ("Asia/Tokyo", ())


def test_unknown_keys_warn_with_did_you_mean():
    s = parse("timezon: UTC\nstate: /x\n")
    assert s.warnings == ("c.yaml:1:1: timezon: unknown key 'timezon' (ignored); did you mean 'timezone'?",)


def test_a_file_with_no_settings_is_the_built_in_defaults():
    for text in ("", "# only a comment\n"):
        s = parse(text)
        assert s.warnings == ("c.yaml:1:1: the file holds no settings (it is empty, or only comments): the built-in "
                              "defaults hold (rules.example.yaml shows every setting)",)
        assert (s.sources, s.targets, s.rules, s.explicit) == (("auto",), {}, (), frozenset())


def test_invalid_yaml_and_wrong_shapes():
    assert errors_of("a: [1\n")[0].startswith("c.yaml:2:1: invalid YAML")
    assert errors_of("- just\n- a list\n") == [
        "c.yaml:1:1: expected a mapping of settings (key: value) at the top level"
    ]
    assert errors_of("state: /x\nstate: /y\n") == ["c.yaml:2:1: duplicate key 'state'"]
    assert errors_of("correlate_ms: true\n") == ["c.yaml:1:15: correlate_ms: expected milliseconds from 0 to 10000, got True"]


def _laughs(levels: int) -> str:
    """A "billion laughs": each level an anchored list of ten aliases of the one before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_with_its_place(cli, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_laughs(9))  # a billion values once expanded
    start = time.monotonic()
    r = cli("check", "--config", str(path))
    assert time.monotonic() - start < 0.5
    assert (r.code, r.out) == (3, "")
    assert r.err == (f"authwatch: error: {path}:5:5: with its aliases (*name) written out this is more than "
                     "100,000 values; write them out, or use fewer aliases\n")


def test_an_alias_inside_the_value_it_names_is_an_error_not_a_traceback(cli, tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("rules: &r [{action: alert}, *r]\n")
    r = cli("check", "--config", str(path))
    assert (r.code, r.err) == (3, f"authwatch: error: {path}:1:8: an alias (*name) refers to a value that holds it\n")


def test_aliases_within_bounds_are_values_like_any_other():
    s = parse("quiet_hours: &night [{days: sat, from: '22:00', to: '07:00'}]\n"
              "rules:\n  - {action: alert, match: {time: *night}}\n")
    assert s.rules[0].match.parts[0].wanted == "sat 22:00-07:00"
    assert parse(_laughs(4)).warnings  # 10,000 values: unknown keys, but read


@pytest.mark.parametrize("tag, said", [
    ("!!binary", "it cannot be read as !!binary"), ("!!int", "it cannot be read as !!int"),
    ("!!bool", "it cannot be read as !!bool"), ("!!timestamp", "it cannot be read as !!timestamp"),
    ("!!float", "it cannot be read as !!float"), ("!!Hunter2pw", "it has a tag that does not fit it"),
])
def test_a_tag_that_does_not_fit_a_target_url_names_its_place_never_the_url(cli, tmp_path, tag, said):
    path = tmp_path / "c.yaml"
    path.write_text(f"targets:\n  hook: {tag} 'mailto://u:Hunter2pw@h'\n")
    r = cli("check", "--config", str(path))
    assert (r.code, r.out) == (3, "")
    assert r.err == f"authwatch: error: {path}:2:9: invalid value: {said}; write it without the tag\n"
    assert "hunter2pw" not in r.err.lower()
    path.write_text(f"targets:\n  {tag} 'x:Hunter2pw': 'json://h/x'\n")  # a key with such a tag
    r = cli("check", "--config", str(path))
    assert (r.code, r.err) == (3, f"authwatch: error: {path}:2:3: invalid value: {said}; write it without the tag\n")


def test_yaml_1_1_surprises_do_not_happen():
    from authwatch import yamldoc

    assert yamldoc.load("t: 22:00\nc: NO\nb: yes\n", "x").data == {"t": "22:00", "c": "NO", "b": "yes"}


def test_env_substitution_percent_encodes_inside_urls():
    s = parse("targets:\n  m: 'mailtos://alerts:${PW}@mail.example.com'\nstate: '${HOME_DIR}/s.db'\n",
              env={"PW": "p@ss/w:rd", "HOME_DIR": "/srv/a b"})
    assert s.targets["m"]["url"] == "mailtos://alerts:p%40ss%2Fw%3Ard@mail.example.com"
    assert s.state == "/srv/a b/s.db"  # not a URL: taken as is
    assert parse("state: '/x/$$HOME'\n").state == "/x/$HOME"


def test_missing_env_variable_is_an_error_that_names_it():
    assert errors_of("targets:\n  m: 'json://h/${TOKEN}'\n") == [
        "c.yaml:2:6: targets.m: environment variable TOKEN is not set (used as ${TOKEN})"
    ]


def test_missing_env_variable_in_a_target_url_is_a_warning_for_a_command_that_sends_nothing():
    s = config.parse("targets:\n  m: 'json://h/${TOKEN}'\n", "c.yaml", environ={}, sends=False)
    assert s.targets["m"]["url"] == "json://h/"
    assert s.warnings == ("c.yaml:2:6: targets.m: environment variable TOKEN is not set (used as ${TOKEN}): this "
                          "command sends nothing, but run, scan, test-notify and replay --notify refuse to start "
                          "without it",)
    with pytest.raises(ConfigError) as e:  # outside a target URL it changes what the file means: still an error
        config.parse("state: '/srv/${DIR}/s.db'\n", "c.yaml", environ={}, sends=False)
    assert e.value.problems == ["c.yaml:1:8: state: environment variable DIR is not set (used as ${DIR})"]


@pytest.mark.parametrize("command, code", [
    (("check",), 0),
    (("replay", "--explain"), 0),
    (("history",), 0),
    (("replay", "--notify"), 3),
    (("test-notify",), 3),
    (("scan",), 3),
])
def test_an_unset_variable_in_a_target_url_stops_only_the_commands_that_send(cli, tmp_path, command, code):
    path = tmp_path / "config.yaml"
    path.write_text(f"state: {tmp_path / 'state.db'}\ngeoip: false\ntargets: {{m: 'json://localhost/${{TOKEN}}'}}\n")
    path.chmod(0o600)
    log = tmp_path / "auth.log"
    log.write_text("")
    files = (str(log),) if command[0] == "replay" else ()
    if command == ("history",):
        Store(str(tmp_path / "state.db")).close()
    r = cli(*command, "--config", str(path), *files)
    assert r.code == code, r.err
    said = f"{path}:3:14: targets.m: environment variable TOKEN is not set (used as ${{TOKEN}})"
    assert f"authwatch: {'warning' if code == 0 else 'error'}: {said}" in r.err
    assert "Traceback" not in r.err


def test_target_url_values_are_never_repeated():
    secret = "hunter2-secret-token"
    problems = errors_of(f"targets:\n  a: 'not a url {secret}'\n  b: {{url: 42}}\n  c: ['x']\n  'bad name!': 'json://x'\n")
    assert len(problems) == 4
    assert not any(secret in p for p in problems)
    problems = errors_of("targets:\n  a: 'not a url ${S}'\n", env={"S": secret})
    assert not any(secret in p for p in problems)


def test_cli_reports_config_errors_with_exit_3(cli, tmp_path):
    c = tmp_path / "c.yaml"
    c.write_text("timezone: Nowhere/Land\ntimezon: x\n")
    r = cli("replay", "--config", str(c), str(tmp_path))
    assert r.code == 3
    assert r.err.splitlines() == [
        f"authwatch: warning: {c}:2:1: timezon: unknown key 'timezon' (ignored); did you mean 'timezone'?",
        f"authwatch: error: {c}:1:11: timezone: unknown time zone 'Nowhere/Land'; expected an IANA name such as "
        "Europe/London or UTC",
    ]


def test_poll_interval_is_seconds_within_bounds():
    assert parse("poll_interval: 2\n").poll_interval == 2.0
    assert parse("poll_interval: 0.5\n").poll_interval == 0.5
    assert parse("state: /x\n").poll_interval == config.DEFAULT_POLL_INTERVAL
    assert errors_of("poll_interval: 0\n") == ["c.yaml:1:16: poll_interval: expected seconds from 0.1 to 3600, got 0"]
    assert errors_of("poll_interval: fast\n")[0].startswith("c.yaml:1:16: poll_interval: expected seconds")
    assert errors_of("poll_interval: true\n")[0].startswith("c.yaml:1:16:")


# -- enrichment: geoip, history, travel --------------------------------------------


def test_rules_example_loads_without_a_warning_and_states_the_defaults():
    from datetime import timedelta

    from tests.conftest import REPO

    s = config.parse((REPO / "rules.example.yaml").read_text(), "rules.example.yaml", {"SMTP_PASSWORD": "x@y"})
    assert s.warnings == ()
    assert s.geoip == config.GeoSettings(city="/var/lib/GeoIP/dbip-city-lite.mmdb",
                                         asn="/var/lib/GeoIP/dbip-asn-lite.mmdb",
                                         directory="/var/lib/authwatch/geoip")
    assert s.history == config.HistorySettings()  # every value written there is the default
    assert s.history.expire == timedelta(days=180) and s.history.max_kmh == 1000
    assert s.targets["ops-mail"]["url"] == "mailtos://alerts:x%40y@mail.example.com?to=ops@example.com"


def test_enrichment_settings():
    from datetime import timedelta

    s = parse("state: /s/state.db\ngeoip: {max_age: 30d, update_url: 'http://mirror.example/{edition}-{month}.gz'}\n"
              "history: {scope: fleet, expire: 26w, learning: {logins: 0, period: 0d}, failure_window: 30m,"
              " key_names: false}\ntravel: {max_kmh: 900.5}\n")
    assert s.geoip.max_age == timedelta(days=30) and s.geoip.update_url.startswith("http://mirror.example/")
    assert s.geoip_directory == "/s/geoip"
    h = s.history
    assert (h.scope, h.expire, h.learning_logins, h.learning_period, h.failure_window, h.key_names, h.max_kmh) == (
        "fleet", timedelta(weeks=26), 0, timedelta(0), timedelta(minutes=30), False, 900.5)
    assert not parse("geoip: false\n").geoip.enabled


def test_enrichment_errors_say_where_and_what():
    problems = errors_of(
        "geoip:\n  city: relative.mmdb\n  update_url: https://x.example/db.gz\n  max_age: forever\n"
        "history:\n  scope: galaxy\n  expire: 3\n  learning: {logins: 2.5, period: 7}\n  failure_window: 1s\n"
        "  key_names: yes\ntravel: {max_kmh: 0}\n"
    )
    assert problems == [
        "c.yaml:2:9: geoip.city: expected the absolute path of a City or Country .mmdb file, got 'relative.mmdb'",
        "c.yaml:3:15: geoip.update_url: expected an http(s) URL with {edition} (city or asn) and optionally "
        "{month} (YYYY-MM), such as https://download.db-ip.com/free/dbip-{edition}-lite-{month}.mmdb.gz",
        "c.yaml:4:12: geoip.max_age: expected a duration from 1d to 3650d such as 30s, 10m, 12h, 7d or 26w, got 'forever'",
        "c.yaml:6:10: history.scope: expected host (history per host and user) or fleet (per user across the "
        "hosts of a central log), got 'galaxy'",
        "c.yaml:7:11: history.expire: expected a duration from 1d to 3650d such as 30s, 10m, 12h, 7d or 26w, got 3",
        "c.yaml:8:22: history.learning.logins: expected a whole number from 0 to 100,000, got 2.5",
        "c.yaml:8:35: history.learning.period: expected a duration from 0s to 3650d such as 30s, 10m, 12h, 7d or 26w, got 7",
        "c.yaml:9:19: history.failure_window: expected a duration from 1m to 1w such as 30s, 10m, 12h, 7d or 26w, got '1s'",
        "c.yaml:10:14: history.key_names: expected true or false, got 'yes'",
        "c.yaml:11:19: travel.max_kmh: expected a number from 1 to 1,000,000, got 0",
    ]


def test_enrichment_unknown_keys_warn():
    s = parse("geoip: {citty: /x.mmdb}\nhistory: {learning: {login: 3}}\n")
    assert s.warnings == (
        "c.yaml:1:9: geoip.citty: unknown key 'citty' (ignored); did you mean 'city'?",
        "c.yaml:2:22: history.learning.login: unknown key 'login' (ignored); did you mean 'logins'?",
    )
    assert errors_of("geoip: yes\n") == [
        "c.yaml:1:8: geoip: expected a mapping of GeoIP settings (city, asn, directory, update_url, max_age, "
        "enabled), or false, got a string"]


def test_delivery_settings_and_per_target_overrides():
    s = parse(
        "targets:\n"
        "  chat: {url: 'slack://T/B/C', rate_limit: 0, timeout: 2.5s}\n"
        "delivery:\n"
        "  rate_limit: 5\n  timeout: 3s\n  retry_first: 500ms\n  retry_max: 1h\n  set_aside_after: 4\n"
        "  dead_after: 2d\n  keep: 90d\n  sendmail: /usr/lib/sendmail\n  reverse_dns: true\n"
        "  reverse_dns_timeout: 200ms\n  heartbeat: '08:30'\n  target_failing_after: off\n"
        "  source_silent_after: 6h\n"
    )
    d = s.delivery
    assert (d.rate_limit, d.timeout, d.retry_first, d.retry_max, d.set_aside_after) == (5, 3, 0.5, 3600, 4)
    assert (d.dead_after, d.keep, d.sendmail, d.reverse_dns, d.reverse_dns_timeout) == (
        172800, 7776000, "/usr/lib/sendmail", True, 0.2)
    assert (d.heartbeat, d.target_failing_after, d.source_silent_after) == ("08:30", None, 21600)
    assert s.targets["chat"]["rate_limit"] == 0 and s.targets["chat"]["timeout"] == 2.5
    defaults = parse("state: /x\n").delivery
    assert (defaults.rate_limit, defaults.heartbeat, defaults.target_failing_after) == (20, None, 3600)


def test_delivery_errors_say_where_and_what():
    assert errors_of("delivery:\n  rate_limit: -1\n  timeout: soon\n  heartbeat: '25:00'\n  sendmail: sendmail\n"
                     "  retry_first: 1m\n  retry_max: 10s\n") == [
        "c.yaml:2:15: delivery.rate_limit: expected messages a minute from 0 (no limit) to 10000, got -1",
        "c.yaml:3:12: delivery.timeout: expected a duration from 100ms to 5m such as 30s, 10m, 12h, 7d or 26w, got 'soon'",
        "c.yaml:4:14: delivery.heartbeat: expected a daily time HH:MM such as 08:30, or off, got '25:00'",
        "c.yaml:5:13: delivery.sendmail: expected the absolute path of a sendmail program, got 'sendmail'",
    ]
    assert errors_of("delivery: {retry_first: 1m, retry_max: 10s}\n") == [
        "c.yaml:1:40: delivery.retry_max: must not be shorter than retry_first"]
    assert errors_of("targets:\n  t: {url: 'json://x', timeout: 0}\n") == [
        "c.yaml:2:33: targets.t.timeout: expected a duration from 100ms to 5m such as 30s, 10m, 12h, 7d or 26w, got 0"]
    s = parse("delivery: {rate_limt: 3}\ntargets:\n  t: {url: 'json://x', ratelimit: 1}\n")
    assert s.warnings == (
        "c.yaml:1:12: delivery.rate_limt: unknown key 'rate_limt' (ignored); did you mean 'rate_limit'?",
        "c.yaml:3:24: targets.t.ratelimit: unknown key 'ratelimit' (ignored); did you mean 'rate_limit'?",
    )


def test_durations():
    got = [config.parse_duration(v, bare_seconds=True)
           for v in (90, 1.5, "30s", "10m", "2h", "3d", "250ms", "1 h", "2w", "soon", True)]
    assert [d and d.total_seconds() for d in got] == [90, 1.5, 30, 600, 7200, 259200, 0.25, 3600, 1209600, None, None]
    assert config.parse_duration(7) is None  # without a unit, 7 could be days: refused where not seconds


def test_a_relative_state_path_is_refused():
    assert errors_of("state: rel.db\n") == [
        "c.yaml:1:8: state: expected an absolute path for the state database, got 'rel.db'"
    ]


def test_a_config_that_is_not_utf8_or_not_a_file(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_bytes(b"state: /x\ntimezone: \xff\n")
    with pytest.raises(ConfigError) as e:
        config.load(str(bad))
    assert e.value.problems == [f"{bad}:2:11: not UTF-8 text (byte 0xff); save the file as UTF-8"]
    with pytest.raises(UsageError, match="is a directory, not a configuration file"):
        config.load(str(tmp_path))
