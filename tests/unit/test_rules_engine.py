"""The rules engine: each condition, each action, first match wins, the
kinds a rule applies to, quiet hours, the digest, cooldowns, summaries, its
state in the store, and the trace `replay --explain` prints."""

from datetime import datetime, timedelta, timezone

import pytest

from authwatch import config
from authwatch.event import Event, Forged, Geo, Spot, Travel
from authwatch.rules.engine import Engine
from authwatch.store import Store

UTC = timezone.utc
T = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday, noon (GMT = UTC in November)
BR = Geo("public", "BR", "Brazil", "São Paulo", -23.5, -46.6, 50, 28573, "Claro NXT")
KEY = "SHA256:" + "K" * 43


def settings(text: str, **env) -> config.Settings:
    return config.parse(text, "c.yaml", environ=env)


def engine(text: str, store: Store | None = None) -> Engine:
    return Engine(settings(text), store)


def login(t=T, user="alice", ip="198.51.100.7", **fields) -> Event:
    fields.setdefault("method", "publickey")
    fields.setdefault("methods", (fields["method"],))
    return Event("login", t, fields.pop("host", "web1"), user, ip, 50000, **fields)


def failure(t=T, user="root", ip="203.0.113.66", host="web1") -> Event:
    return Event("failure", t, host, user, ip, 40000, "password", ("password",))


def minutes(n: float) -> datetime:
    return T + timedelta(minutes=n)


ONE_RULE = "rules:\n  - {{name: r, match: {match}, action: ignore}}\n"


@pytest.mark.parametrize("match, hit, miss", [
    ("{user: alice}", login(), login(user="bob")),
    ("{user: [bob, 'adm*']}", login(user="admin2"), login(user="alice")),
    ("{ip: 198.51.100.0/24}", login(), login(ip="198.51.101.7")),
    ("{ip: 198.51.100.7}", login(), login(ip="198.51.100.8")),
    ("{ip: ['2001:db8::/32']}", login(ip="2001:db8:1::5"), login(ip="2001:db9::5")),
    ("{country: br}", login(geo=BR), login()),
    ("{asn: [AS28573, 64500]}", login(geo=BR), login(geo=BR._replace(asn=3333))),
    ("{host: 'web*'}", login(), login(host="db1")),
    ("{method: publickey}", login(), login(method="password")),
    ("{method: keyboard-interactive}", login(method="keyboard-interactive/pam"), login()),
    ("{method: password}", login(method="password", methods=("publickey", "password")), login()),
    ("{key: " + KEY + "}", login(key=KEY), login(key="SHA256:" + "X" * 43)),
    ("{key: 'alice@*'}", login(key=KEY, key_name="alice@laptop"), login(key=KEY, key_name="bob@laptop")),
    ("{session: [sftp, exec]}", login(session="sftp"), login(session="shell")),
    ("{novelty: [new_country, new_asn]}", login(novelty=("new_ip", "new_asn")), login(novelty=("new_ip",))),
    ("{novelty: none}", login(), login(novelty=("learning",))),
    ("{impossible_travel: true}", login(impossible_travel=True), login()),
    ("{impossible_travel: false}", login(), login(impossible_travel=True)),
    ("{after_failures: 10}", login(after_failures=12), login(after_failures=9)),
    ("{time: {days: wed, from: '09:00', to: '17:00'}}", login(), login(minutes(6 * 60))),
    ("{kind: [failure, invalid_user]}", failure(), login()),
    ("{user: alice, ip: 198.51.100.0/24}", login(), login(ip="10.0.0.1")),  # keys AND
    ("{any: [{user: bob}, {ip: 198.51.100.7}]}", login(), login(ip="10.0.0.1")),
    ("{any: {user: bob, session: sftp}}", login(session="sftp"), login()),
    ("{all: [{user: alice}, {session: shell}]}", login(session="shell"), login()),
    ("{not: {user: alice}}", login(user="bob"), login()),
    ("{not: [{user: alice}, {user: bob}]}", login(user="carol"), login(user="bob")),
])
def test_each_condition(match, hit, miss):
    e = engine(ONE_RULE.format(match=match))
    assert e.decide(hit).rule == "r" and e.decide(hit).action == "ignore"
    assert e.decide(miss).rule is None and e.decide(miss).action == "alert"  # a login: the fail-safe default


def test_no_match_matches_every_login_and_first_match_wins():
    e = engine("rules:\n"
               "  - {name: root, match: {user: root}, action: alert, severity: critical}\n"
               "  - {name: rest, action: alert, severity: warning}\n"
               "  - {name: never, match: {user: alice}, action: ignore}\n")
    assert (e.decide(login(user="root")).rule, e.decide(login(user="root")).severity) == ("root", "critical")
    assert (e.decide(login()).rule, e.decide(login()).severity) == ("rest", "warning")


def test_a_rule_that_names_no_kind_applies_to_logins_only():
    e = engine("rules:\n"
               "  - {name: root, match: {user: root}, action: alert, severity: high}\n"
               "  - {name: failures, match: {kind: [failure, login], ip: 203.0.113.0/24}, action: ignore}\n")
    assert e.kinds == {"login", "forged", "failure"}
    assert e.decide(failure()).rule == "failures"  # not "root": that rule is for logins
    assert e.decide(failure(ip="192.0.2.1")).action == "ignore" and e.decide(failure(ip="192.0.2.1")).rule is None
    assert e.decide(login(user="root", ip="203.0.113.5")).rule == "root"


def test_without_rules_every_login_alerts_and_other_kinds_are_not_asked_about():
    e = Engine()
    assert e.kinds == {"login", "forged"}
    d = e.decide(login(user="root", novelty=("first_login",)))
    assert d.action == "alert" and d.severity == "info" and d.rule is None
    assert d.reasons == ("first login for root", "root login")
    assert e.decide(login()).reasons == ("every login alerts (built-in default)",)


FORGED = Event("forged", T, "web1", "root", "203.0.113.9", 22, "password",
               forged=Forged(65534, 8337, "logger", "/usr/bin/logger", "sshd", 1, "login"))


def test_forged_entries_alert_as_critical_unless_a_rule_names_them():
    assert engine("rules: [{name: all, action: ignore}]").decide(FORGED).severity == "critical"
    d = engine("rules: [{name: all, action: ignore}]").decide(FORGED)
    assert d.action == "alert" and "uid 65534, pid 8337, /usr/bin/logger" in d.reasons[0]
    named = engine("rules: [{name: lab, match: {kind: forged, host: web1}, action: ignore}]")
    assert named.decide(FORGED).action == "ignore"
    assert named.decide(FORGED._replace(host="db1")).severity == "critical"
    not_a_login = engine("rules: [{name: not a login, match: {not: {kind: login}}, action: ignore}]")
    assert not_a_login.decide(failure()).action == "ignore"  # every kind but login...
    assert not_a_login.decide(FORGED).severity == "critical"  # ...but forged, which only naming it takes


def test_alert_goes_to_notify_or_to_every_target():
    e = engine("targets: {mail: 'mailto://localhost?to=root', chat: 'json://localhost/x', pager: 'json://localhost/p'}\n"
               "rules:\n"
               "  - {name: root, match: {user: root}, action: alert, severity: high, notify: [pager, mail]}\n"
               "  - {name: rest, action: alert}\n")
    assert e.decide(login(user="root")).targets == ("pager", "mail")
    assert e.decide(login()).targets == ("mail", "chat", "pager")


def test_reasons_say_what_stands_out():
    travel = Travel(Spot("81.2.69.160", "London, United Kingdom", T - timedelta(hours=1), 51.5, -0.1),
                    Spot("177.0.3.20", "São Paulo, Brazil", T, -23.5, -46.6), 9439, 7866)
    d = engine("rules: [{name: far, match: {impossible_travel: true}, action: alert, severity: critical}]").decide(
        login(geo=BR, impossible_travel=True, travel=travel, after_failures=12, novelty=("new_country",)))
    assert d.reasons == ("impossible travel for alice: 9,439 km from London, United Kingdom at 7,866 km/h",
                         "login after 12 failed attempts", "first login from Brazil for alice")


QUIET = ("timezone: Europe/London\n"
         "quiet_hours:\n"
         "  - {days: mon-fri, from: '22:00', to: '07:00'}\n")


def night(hours_after_22: float) -> datetime:
    return datetime(2026, 11, 18, 22, 0, tzinfo=UTC) + timedelta(hours=hours_after_22)  # Wed night


@pytest.mark.parametrize("mode, action", [("alert", "alert"), ("digest", "digest"), ("ignore", "ignore")])
def test_during_quiet_hours(mode, action):
    e = engine(QUIET + f"rules: [{{name: r, action: alert, during_quiet_hours: {mode}}}]\n")
    assert e.decide(login(night(1))).action == action
    assert e.decide(login(T)).action == "alert"  # noon: not quiet


def test_quiet_hours_hold_the_default_alert_too_but_critical_breaks_through():
    e = engine(QUIET + "rules: [{name: root, match: {user: root}, action: alert, severity: critical}]\n")
    assert e.decide(login(night(1))).action == "digest"  # no rule matched: info, held
    d = e.decide(login(night(1), user="root"))
    assert d.action == "alert" and d.severity == "critical"


def test_the_digest_is_sent_once_when_quiet_hours_end():
    e = engine(QUIET + "targets: {mail: 'mailto://localhost?to=root'}\n")
    for i, user in enumerate(["alice", "bob", "carol"]):
        assert e.decide(login(night(1 + i), user=user)).action == "digest"
    assert e.next_due == datetime(2026, 11, 19, 7, 0, tzinfo=UTC)
    assert e.due(datetime(2026, 11, 19, 6, 59, tzinfo=UTC)) == []
    [digest] = e.due(datetime(2026, 11, 19, 7, 0, tzinfo=UTC))
    assert digest.event.kind == "digest" and digest.decision.action == "alert"
    assert digest.decision.targets == ("mail",)
    assert [a.user for a in digest.event.digest.alerts] == ["alice", "bob", "carol"]
    assert digest.event.digest.total == 3 and digest.event.time == datetime(2026, 11, 19, 7, 0, tzinfo=UTC)
    assert e.due(datetime(2026, 11, 19, 9, 0, tzinfo=UTC)) == [] and e.next_due is None
    e.decide(login(night(25)))  # Thursday night: the next digest
    [second] = e.due(datetime(2026, 11, 20, 7, 0, tzinfo=UTC))
    assert [a.time for a in second.event.digest.alerts] == [night(25)]


def test_targets_that_held_different_alerts_get_different_digests():
    e = engine(QUIET + "targets: {mail: 'mailto://localhost?to=root', chat: 'json://localhost/x'}\n"
                       "rules:\n"
                       "  - {name: bob, match: {user: bob}, action: alert, notify: chat}\n")
    e.decide(login(night(1)))
    e.decide(login(night(2), user="bob"))
    digests = {o.decision.targets: [a.user for a in o.event.digest.alerts] for o in e.due(night(10))}
    assert digests == {("mail",): ["alice"], ("chat",): ["alice", "bob"]}


def test_a_digest_rule_holds_alerts_until_digest_at():
    e = engine("digest_at: ['08:00', '18:00']\nrules: [{name: slow, action: digest, severity: warning}]\n")
    assert e.decide(login(T)).action == "digest"
    assert e.next_due == datetime(2026, 11, 18, 18, 0, tzinfo=UTC)
    [digest] = e.due(datetime(2026, 11, 18, 18, 0, tzinfo=UTC))
    assert digest.decision.severity == "warning" and digest.event.digest.alerts[0].rule == "slow"


def test_cooldown_suppresses_the_same_user_and_address():
    e = engine("rules: [{name: r, action: alert, cooldown: 30m}]")
    assert e.decide(login(minutes(0))).action == "alert"
    assert e.decide(login(minutes(10))).action == "ignore"
    assert e.decide(login(minutes(11), ip="198.51.100.8")).action == "alert"  # another address
    assert e.decide(login(minutes(12), user="bob")).action == "alert"  # another user
    assert e.decide(login(minutes(29))).action == "ignore"  # repeats do not extend it
    assert e.decide(login(minutes(30))).action == "alert"
    trace = e.decide(login(minutes(31)), explain=True).trace
    assert trace[-1].startswith("-> not alerted: cooldown (30m): this rule alerted about alice@web1 from 198.51.100.7")


def test_a_cooldown_belongs_to_its_rule():
    e = engine("rules:\n"
               "  - {name: sftp, match: {session: sftp}, action: alert, cooldown: 1h}\n"
               "  - {name: rest, action: alert, cooldown: 1h}\n")
    assert e.decide(login(minutes(0), session="sftp")).action == "alert"
    assert e.decide(login(minutes(1), session="shell")).action == "alert"
    assert e.decide(login(minutes(2), session="sftp")).action == "ignore"


SUMMARY = ("targets: {mail: 'mailto://localhost?to=root'}\n"
           "rules: [{name: brute force, match: {kind: failure}, action: summarize, window: 10m, threshold: 20,"
           " severity: warning}]\n")


def test_a_failure_summary_once_the_threshold_is_passed():
    e = engine(SUMMARY)
    for i in range(25):
        d = e.decide(failure(minutes(i * 0.3), user=["root", "admin"][i % 2], ip=f"203.0.113.{i % 3}"))
        assert d.action == "summarize"
    assert e.next_due == minutes(10) and e.due(minutes(9.9)) == []
    [summary] = e.due(minutes(10))
    s = summary.event.summary
    assert summary.event.kind == "summary" and summary.event.host == "web1" and summary.event.detail == "brute force"
    assert (s.total, s.ip_count, s.user_count) == (25, 3, 2)
    assert s.ips == (("203.0.113.0", 9), ("203.0.113.1", 8), ("203.0.113.2", 8))
    assert s.users == (("root", 13), ("admin", 12))
    assert (s.start, s.end) == (T, minutes(10))
    assert summary.decision.action == "alert" and summary.decision.severity == "warning"
    assert summary.decision.reasons == ("25 failed logins in 10 minutes, from 3 addresses, for 2 users",)
    assert summary.decision.targets == ("mail",)


def test_no_summary_below_the_threshold_and_each_window_on_its_own():
    e = engine(SUMMARY)
    for i in range(19):
        e.decide(failure(minutes(i * 0.1)))
    assert e.due(minutes(10)) == []  # 19 < 20: nothing
    for i in range(20):
        e.decide(failure(minutes(30 + i * 0.1)))
    [summary] = e.due(minutes(45))
    assert summary.event.summary.total == 20 and summary.event.summary.start == minutes(30)


def test_a_summary_that_ends_in_quiet_hours_goes_into_the_digest():
    e = engine(QUIET + SUMMARY)
    for i in range(30):
        e.decide(failure(night(2) + timedelta(seconds=i)))
    [summary] = e.due(night(3))
    assert summary.event.kind == "summary" and summary.decision.action == "digest"  # held...
    [digest] = e.due(night(9))  # ...and sent at 07:00
    [held] = digest.event.digest.alerts
    assert held.kind == "summary" and held.why.startswith("30 failed logins in 10 minutes")


def test_flush_sends_what_is_still_held_at_the_end_of_input():
    e = engine(QUIET + SUMMARY)
    e.decide(login(night(1)))
    for i in range(20):
        e.decide(failure(night(1) + timedelta(seconds=i)))
    done = [(o.event.kind, o.decision.action) for o in e.flush()]
    assert done == [("summary", "digest"), ("digest", "alert")]  # the summary closed in quiet hours: held
    assert e.flush() == [] and e.next_due is None


def test_state_survives_a_restart(tmp_path):
    text = QUIET + SUMMARY.replace("rules: [", "rules: [{name: every, action: alert, cooldown: 1h}, ")
    with Store(str(tmp_path / "state.db")) as store:
        first = engine(text, store)
        assert first.decide(login(night(1))).action == "digest"
        for i in range(5):
            first.decide(failure(night(1) + timedelta(seconds=i)))
        store.enqueue([], changes=[first.changes()])
        second = engine(text, store)  # a restart (or a reload) reads it back
        assert second.decide(login(night(1.5))).action == "ignore"  # cooldown kept
        for i in range(15):
            second.decide(failure(night(1) + timedelta(minutes=1, seconds=i)))  # the same window goes on
        summary, digest = second.due(night(9))
        assert summary.event.summary.total == 20 and summary.decision.action == "digest"
        assert [a.kind for a in digest.event.digest.alerts] == ["login", "summary"]
        store.enqueue([], changes=[second.changes()])
        third = engine(text, store)
        assert len(third.held) == 0 and third.next_due is None and third.flush() == []


def test_explain_says_which_rule_and_condition_decided():
    e = engine("targets: {mail: 'mailto://localhost?to=root'}\n"
               "rules:\n"
               "  - {name: office, match: {ip: 203.0.113.0/24, novelty: none}, action: ignore}\n"
               "  - {name: failures, match: {kind: failure}, action: summarize}\n"
               "  - {name: root or travel, match: {any: [{user: root}, {impossible_travel: true}]}, action: alert,"
               " severity: critical}\n"
               "  - {name: rest, action: alert}\n")
    d = e.decide(login(novelty=("new_ip",)), explain=True)
    assert d.trace == (
        "rule 1 'office': no",
        "  no   ip 198.51.100.7: does not match 203.0.113.0/24",
        "rule 2 'failures': not tried (applies to failure)",
        "rule 3 'root or travel': no",
        "  no   any of:",
        "    no   user alice: does not match root",
        "    no   impossible_travel false: does not match true",
        "rule 4 'rest': matched",
        "-> alert [info] to mail",
    )
    assert e.decide(login(), explain=False).trace is None
    d = e.decide(login(ip="203.0.113.5"), explain=True)
    assert d.trace[:3] == ("rule 1 'office': matched", "  yes  ip 203.0.113.5: matches 203.0.113.0/24",
                           "  yes  novelty (nothing new): matches none") and d.trace[-1] == "-> ignored"


def test_a_window_tells_apart_a_bounded_number_of_addresses(monkeypatch):
    monkeypatch.setattr("authwatch.rules.tally.KEEP", 3)
    e = engine(SUMMARY)
    for i in range(25):
        e.decide(failure(minutes(i * 0.1), ip=f"203.0.113.{i % 5}"))
    [summary] = e.due(minutes(10))
    s = summary.event.summary
    assert s.total == 25 and dict(s.ips) == {"203.0.113.0": 5, "203.0.113.1": 5, "203.0.113.2": 5, "(others)": 10}


def test_a_pipeline_without_an_engine_alerts_every_target_it_was_given(tmp_path):
    from authwatch.pipeline import Pipeline

    with Store(str(tmp_path / "state.db")) as store:
        [result] = Pipeline(store, targets=("mail", "chat")).feed([login()])
        assert result.alert.targets == ("mail", "chat") and result.alert.rule is None
