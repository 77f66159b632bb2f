"""Rules through `authwatch replay`: log time drives quiet hours and the
digest (also across Europe/London's clock changes), `--explain` prints the
trace the decision was made with, and the JSON follows the schema."""

import json
from datetime import datetime, timezone

import jsonschema
import pytest

from tests.conftest import FIXTURES, REPO
from tests.loglines import accepted, failed

SCHEMA = json.loads((REPO / "docs" / "event.schema.json").read_text())
UTC = timezone.utc
SATURDAY_NIGHT = "timezone: Europe/London\nquiet_hours: [{days: sat, from: '22:00', to: '07:00'}]\n"


@pytest.fixture
def run(cli, tmp_path):
    def run(config: str, lines: list[str], *options: str):
        (tmp_path / "config.yaml").write_text(f"state: {tmp_path / 'state.db'}\ngeoip: false\n" + config)
        (tmp_path / "auth.log").write_text("".join(lines))
        r = cli("replay", "--json", *options, "--config", str(tmp_path / "config.yaml"), str(tmp_path / "auth.log"))
        assert r.code == 0, r.err
        return r.json()

    return run


def logins(*times: str) -> list[str]:
    return [accepted(datetime.fromisoformat(t), f"user{i}", f"198.51.100.{i}", 50000 + i) for i, t in enumerate(times)]


@pytest.mark.parametrize("night, end", [
    # Clocks go forward on Sunday 29 March 2026 at 01:00 GMT: the night is 8 hours.
    (("2026-03-28T21:59:00+00:00", "2026-03-28T22:00:00+00:00", "2026-03-29T05:59:00+00:00",
      "2026-03-29T06:00:00+00:00"), "2026-03-29T07:00:00+01:00"),
    # Clocks go back on Sunday 25 October 2026 at 02:00 BST: the night is 10 hours.
    (("2026-10-24T20:59:00+00:00", "2026-10-24T21:00:00+00:00", "2026-10-25T06:59:00+00:00",
      "2026-10-25T07:00:00+00:00"), "2026-10-25T07:00:00+00:00"),
])
def test_the_digest_goes_out_once_at_the_end_of_quiet_hours_across_clock_changes(run, night, end):
    before, first, last, after = night
    events = run(SATURDAY_NIGHT, logins(before, first, last, after))
    said = [(e["kind"], e["user"], e["alert"]["held"]) for e in events]
    assert said == [("login", "user0", False), ("login", "user1", True), ("login", "user2", True),
                    ("digest", None, False), ("login", "user3", False)]
    digest = events[3]
    assert digest["time"] == end
    assert [a["user"] for a in digest["digest"]["alerts"]] == ["user1", "user2"]
    for e in events:
        jsonschema.validate(e, SCHEMA)


def test_what_is_still_held_goes_out_at_the_end_of_input(run):
    events = run(SATURDAY_NIGHT, logins("2026-11-21T23:00:00+00:00", "2026-11-22T01:00:00+00:00"))
    assert [e["kind"] for e in events] == ["login", "login", "digest"]
    assert events[2]["time"] == "2026-11-22T01:00:00+00:00"  # the last time the log reached
    assert events[2]["digest"]["total"] == 2


def test_explain_prints_every_login_with_its_trace(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("targets: {mail: 'mailto://localhost?to=root'}\n"
                      "rules:\n"
                      "  - {name: sftp is fine, match: {session: sftp}, action: ignore}\n"
                      "  - {name: root, match: {user: root}, action: alert, severity: critical}\n")
    log = str(FIXTURES / "openssh-10-rfc3339.log")
    plain = cli("replay", "--config", str(config), log)
    r = cli("replay", "--explain", "--config", str(config), log)
    assert r.code == 0, r.err
    blocks = [b for b in r.out.split("\n\n") if b.strip()]
    assert len(blocks) == 17 and plain.out.count("LOGIN  ") == 13  # every login, the four ignored too
    sftp = next(b for b in blocks if "    session   sftp" in b)
    assert "why" not in sftp
    lines = sftp.splitlines()
    i = lines.index("    rules     rule 1 'sftp is fine': matched")
    assert lines[i + 1:i + 3] == ["                yes  session sftp: matches sftp", "              -> ignored"]
    shell = next(b for b in blocks if "    session   shell" in b).splitlines()
    i = shell.index("    rules     rule 1 'sftp is fine': no")
    assert shell[i + 1:i + 6] == [
        "                no   session shell: does not match sftp",
        "              rule 2 'root': no",
        "                no   user alice: does not match root",
        "              no rule matched: every login alerts (fail safe)",
        "              -> alert [info] to mail",
    ]


def test_explain_in_json_is_the_same_trace(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("rules: [{name: root, match: {user: root}, action: alert, severity: critical}]\n")
    log = str(FIXTURES / "openssh-10-rfc3339.log")
    events = cli("replay", "--json", "--explain", "--config", str(config), log).json()
    for e in events:
        jsonschema.validate(e, SCHEMA)
    root = events[-1]
    assert root["user"] == "root" and root["explain"] == [
        "rule 1 'root': matched", "  yes  user root: matches root",
        "-> alert [critical] to (no targets configured) (critical: at once, through quiet hours and rate limits)"]
    assert all("explain" in e for e in events)
    assert "explain" not in cli("replay", "--json", "--config", str(config), log).json()[0]


def test_a_hostile_user_name_cannot_forge_trace_lines(cli, tmp_path):
    (tmp_path / "auth.log").write_text(accepted(datetime(2026, 11, 18, 12, tzinfo=UTC), "x\r-> ignored\x1b[2J",
                                                "198.51.100.7"))
    config = tmp_path / "config.yaml"
    config.write_text("rules: [{name: r, match: {user: alice}, action: ignore}]\n")
    r = cli("replay", "--explain", "--config", str(config), str(tmp_path / "auth.log"))
    assert "                no   user x\\r-> ignored\\x1b[2J: does not match alice" in r.out
    assert "\r" not in r.out and "\x1b" not in r.out


@pytest.mark.parametrize("match", ["{not: {kind: login}}", "{not: {kind: [login, session]}}",
                                   "{not: {any: [{kind: login}, {user: root}]}}"])
def test_not_kind_login_applies_to_the_other_kinds_and_matches_a_failure(run, match):
    t = datetime(2026, 11, 18, 12, tzinfo=UTC)
    events = run(f"rules: [{{name: not a login, match: {match}, action: alert, severity: high}}]\n",
                 [failed(t, "admin", "198.51.100.9"), accepted(t, "alice", "198.51.100.7")])
    said = [(e["kind"], e["alert"]["rule"], e["alert"]["severity"]) for e in events]
    assert said == [("failure", "not a login", "high"), ("login", None, "info")]  # the login: fail safe


def test_not_with_more_than_a_kind_still_applies_to_that_kind(run):
    t = datetime(2026, 11, 18, 12, tzinfo=UTC)
    events = run("rules: [{name: all but root logins, match: {not: {kind: login, user: root}}, action: alert, "
                 "severity: high}]\n", [failed(t, "admin", "198.51.100.9"), accepted(t, "alice", "198.51.100.7"),
                                        accepted(t, "root", "198.51.100.8")])
    said = [(e["kind"], e["user"], e["alert"]["rule"]) for e in events]
    assert said == [("failure", "admin", "all but root logins"), ("login", "alice", "all but root logins"),
                    ("login", "root", None)]
