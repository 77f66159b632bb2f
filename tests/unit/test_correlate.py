"""Joining Partial, key and session lines to their login; the hold."""

from datetime import datetime, timedelta, timezone

from authwatch.correlate import Correlator
from authwatch.event import Event

T0 = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
FP = "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI"


def _holding(hold: timedelta) -> Correlator:
    c = Correlator(hold)
    c.hold_all()
    return c


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def login(port=5000, pid=100, t=0.0, **kw):
    fields = dict(host="web1", user="alice", ip="198.51.100.7", port=port, method="password",
                  methods=("password",), pid=pid)
    fields.update(kw)
    return Event("login", at(t), **fields)


def session(port=5000, t=0.1, kind="shell", host="web1"):
    return Event("session", at(t), host, "alice", "198.51.100.7", port, session=kind, tty="pts/0", pid=999)


def failure(t):
    return Event("failure", at(t), "web1", "root", "203.0.113.5", 4000, "password", ("password",))


def test_session_line_joins_its_login_and_releases_it():
    c = _holding(timedelta(seconds=1))
    assert c.feed(login(), at(0)) == []
    out = c.feed(session(), at(0.1))
    assert [e.kind for e in out] == ["login", "session"]
    assert (out[0].session, out[0].tty) == ("shell", "pts/0")


def test_login_goes_out_unknown_when_the_hold_runs_out():
    c = _holding(timedelta(milliseconds=300))
    c.feed(login(), at(0))
    assert c.flush(at(0.2)) == []
    assert c.next_deadline() == at(0.3)
    out = c.flush(at(0.3))
    assert [(e.kind, e.session) for e in out] == [("login", "unknown")]
    # a late session line is still an event, but the login is gone
    assert [e.kind for e in c.feed(session(t=0.5), at(0.5))] == ["session"]


def test_events_keep_their_order_behind_a_held_login():
    c = _holding(timedelta(seconds=1))
    c.feed(failure(0), at(0))
    c.feed(login(), at(0.01))
    assert c.feed(failure(0.02), at(0.02)) == []
    out = c.feed(session(t=0.05), at(0.05))
    assert [e.kind for e in out] == ["login", "failure", "session"]


def test_session_for_another_connection_does_not_join():
    c = _holding(timedelta(seconds=1))
    c.feed(login(port=5000), at(0))
    c.feed(session(port=6000), at(0.1))
    c.feed(session(port=5000, host="web2"), at(0.1))
    out = c.drain()
    assert out[0].session == "unknown"


def test_without_hold_all_nothing_waits_until_the_host_logged_a_session_line():
    c = Correlator(timedelta(seconds=1))
    assert [e.session for e in c.feed(login(), at(0))] == ["unknown"]  # host never logged sessions
    c.feed(session(port=1), at(1))  # now it has (LogLevel VERBOSE)
    assert c.feed(login(port=2, t=2), at(2)) == []
    assert c.feed(session(port=2, t=2.1), at(2.1))[0].session == "shell"


def test_partial_factors_join_the_login_of_the_same_monitor_pid():
    c = Correlator(timedelta(0))
    partial = Event("partial", at(0), "web1", "carol", "198.51.100.7", 5000, "publickey", ("publickey",),
                    FP, "ED25519", pid=100)
    c.feed(partial, at(0))
    out = c.feed(login(user="carol", pid=100), at(0.1))
    assert out[-1].methods == ("publickey", "password") and out[-1].key == FP


def test_key_location_joins_the_login_with_the_same_key():
    c = Correlator(timedelta(0))
    found = Event("key_found", at(0), "web1", key=FP, key_type="ED25519",
                  key_location="/home/alice/.ssh/authorized_keys:3", pid=100)
    c.feed(found, at(0))
    out = c.feed(login(pid=100, method="publickey", methods=("publickey",), key=FP, key_type="ED25519"), at(0))
    assert out[-1].key_location == "/home/alice/.ssh/authorized_keys:3"
    other = c.feed(login(pid=101, method="publickey", methods=("publickey",), key=FP, port=7), at(1))
    assert other[-1].key_location is None  # another connection: not joined


def test_sftp_server_session_joins_by_user_and_address():
    c = _holding(timedelta(seconds=1))
    c.feed(login(), at(0))
    sftp = Event("session", at(0.2), "web1", "alice", "198.51.100.7", None, session="sftp", ident="internal-sftp")
    assert c.feed(sftp, at(0.2))[0].session == "sftp"
