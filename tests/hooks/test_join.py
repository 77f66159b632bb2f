"""One login, one alert: the log's login and the PAM hook's record of it are
joined in the correlator's hold, whichever comes first, keeping the best of
both; nothing waits for a source that is not followed."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

from authwatch.correlate import Correlator
from authwatch.event import Event, Record
from authwatch.twins import Twins

T0 = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
FP = "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI"
HOLD = timedelta(milliseconds=300)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def login(port=5000, t=0.0, user="alice", host="web1"):
    return Event("login", at(t), host, user, "198.51.100.7", port, "publickey", ("publickey",), FP, "ED25519",
                 ident="sshd", pid=100, source=f"auth.log:{port}")


def record(port=5000, t=0.004, user="alice", host="web1.example.com", key=None):
    src = f"spool:{port}"
    return Event("record", at(t), host, user, "198.51.100.7", port, "publickey", ("publickey",), key, "ED25519" if key else None,
                 ident="pam_exec", source=src, record=Record(src, at(t), "sshd", "ssh", "198.51.100.7"))


def session(port=5000, t=0.05):
    return Event("session", at(t), "web1", "alice", "198.51.100.7", port, session="sftp", pid=101)


def paired(logs=True, hook=True, hold=HOLD) -> Correlator:
    c = Correlator(hold)
    c.pair(["web1.example.com"] if hook else [], logs_followed=logs)
    return c


def kinds(events):
    return [e.kind for e in events]


def test_log_first_the_record_joins_it_and_releases_it():
    c = paired()
    assert c.feed(login(), at(0)) == []  # waits for the record
    out = c.feed(record(), at(0.004))
    assert kinds(out) == ["login", "record"]
    joined = out[0]
    assert (joined.key, joined.ident, joined.source) == (FP, "sshd", "auth.log:5000")  # the log's
    assert joined.record == record().record  # and the hook's


def test_record_first_the_login_takes_its_place_and_goes_at_once():
    c = paired()
    assert c.feed(record(t=0), at(0)) == []  # waits for the log
    out = c.feed(login(t=0.01), at(0.01))
    assert kinds(out) == ["login", "record"]
    assert out[0].source == "auth.log:5000" and out[0].record.source == "spool:5000"


def test_a_host_that_logs_session_lines_waits_for_both():
    c = paired()
    c.learn([session(port=1)])  # this host logs `Starting session`
    c.feed(login(), at(0))
    assert c.feed(record(), at(0.004)) == []
    out = c.feed(session(), at(0.05))
    assert kinds(out) == ["login", "record", "session"]
    assert (out[0].session, out[0].record.source) == ("sftp", "spool:5000")


def test_a_record_no_log_line_matches_becomes_a_login_when_the_hold_runs_out():
    c = paired()
    c.feed(record(t=0), at(0))
    assert c.flush(at(0.2)) == [] and c.next_deadline() == at(0.3)
    (out,) = c.flush(at(0.3))
    assert (out.kind, out.ident, out.session, out.record.source) == ("login", "pam_exec", "unknown", "spool:5000")


def test_a_log_login_no_record_comes_for_goes_alone_when_the_hold_runs_out():
    c = paired()
    c.feed(login(), at(0))
    (out,) = c.flush(at(0.3))
    assert (out.kind, out.record) == ("login", None)


def test_with_only_the_hook_followed_a_record_is_a_login_at_once():
    c = paired(logs=False)
    (out,) = c.feed(record(), at(0))
    assert (out.kind, out.ident) == ("login", "pam_exec")


def test_with_only_logs_followed_nothing_waits():
    c = paired(hook=False)
    assert kinds(c.feed(login(), at(0))) == ["login"]
    c = Correlator(HOLD)  # never paired at all (replay, or no hook configured)
    assert kinds(c.feed(login(), at(0))) == ["login"]


def test_other_hosts_of_a_central_log_do_not_wait_for_this_hosts_hook():
    c = paired()
    assert kinds(c.feed(login(host="db2"), at(0))) == ["login"]


def test_a_record_that_comes_after_its_login_went_out_is_only_noted():
    c = paired()
    c.feed(login(), at(0))
    c.flush(at(0.3))  # gone, alone
    out = c.feed(record(t=0.5), at(0.5))
    assert kinds(out) == ["record"]  # not a second login


def test_a_log_line_that_comes_after_the_hooks_login_went_out_is_a_duplicate():
    c = paired()
    c.feed(record(t=0), at(0))
    assert kinds(c.flush(at(0.3))) == ["login"]
    assert kinds(c.feed(login(t=1.0), at(1.0))) == ["duplicate"]


def test_with_no_hold_both_reports_still_make_one_login():
    c = paired(hold=timedelta(0))
    assert kinds(c.feed(login(), at(0))) == ["login"]
    assert kinds(c.feed(record(), at(0))) == ["record"]
    c = paired(hold=timedelta(0))
    assert kinds(c.feed(record(t=0), at(0))) == ["login"]
    assert kinds(c.feed(login(t=0.01), at(0.01))) == ["duplicate"]


def test_reports_of_different_logins_are_not_joined():
    c = paired()
    c.feed(login(port=5000), at(0))
    out = c.feed(record(port=5001), at(0.004))  # another connection: waits for its own login
    out += c.feed(record(port=5000, user="bob"), at(0.005))  # another user
    out += c.flush(at(1))
    assert kinds(out) == ["login", "login", "login"]
    assert [e.record is not None for e in out] == [False, True, True]
    c = paired()
    c.feed(login(t=0), at(0))
    c.flush(at(0.3))
    assert kinds(c.feed(record(t=60), at(60))) == []  # a minute later is another login: it waits for its own


def test_the_key_a_hook_read_fills_in_for_a_log_that_named_none():
    c = paired()
    plain = login()._replace(key=None, key_type=None)
    c.feed(plain, at(0))
    out = c.feed(record(key=FP), at(0.004))
    assert (out[0].key, out[0].key_type, out[0].source) == (FP, "ED25519", "auth.log:5000")


def test_order_is_kept_behind_a_held_record():
    c = paired()
    failure = Event("failure", at(0.001), "web1", "root", "203.0.113.9", 4000, "password", ("password",))
    c.feed(record(t=0), at(0))
    assert c.feed(failure, at(0.001)) == []
    assert kinds(c.feed(login(t=0.002), at(0.002))) == ["login", "failure", "record"]


def test_drain_lets_a_waiting_record_out_as_a_login():
    c = paired()
    c.feed(record(t=0), at(0))
    assert kinds(c.drain()) == ["login"]


def test_with_the_journal_followed_a_record_waits_for_its_bursts_too():
    c = Correlator(HOLD)
    c.pair(["web1"], logs_followed=True, log_lag=timedelta(milliseconds=500))
    c.feed(record(t=0), at(0))
    assert c.next_deadline() == at(0.8)


def test_the_journals_pairing_with_text_logs_never_holds_a_hooks_report():
    here = socket.gethostname()
    twins = Twins()  # a text report of this host waits for its journal twin...
    assert twins.feed_all([login(host=here)], at(0), journal=False) == []
    hooks = [record(host=here), login(host=here)._replace(ident="profile", source="~/.ssh_logins:1")]
    assert twins.feed_all(hooks, at(0), journal=False) == []  # behind the held one, in order
    assert [e.ident for e in twins.flush(at(5))] == ["sshd", "pam_exec", "profile"]
    twins = Twins()  # ...a hook's does not: the journal has no twin of it
    assert kinds(twins.feed_all(hooks, at(0), journal=False)) == ["record", "login"]
