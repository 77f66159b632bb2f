"""One report per sshd line when the journal and a text log both carry it:
the journal's wins, forgeries are never swallowed, nothing is collapsed that
sshd logged twice, and positions stay acknowledged end to end."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest

from authwatch import twins as twins_module
from authwatch.event import Event, Forged
from authwatch.pipeline import Pipeline
from authwatch.store import Position, Store
from authwatch.twins import HOLD, TWIN, Twins

T0 = datetime(2026, 11, 22, 15, 0, 0, 250000, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def login(port=40000, time=T0, host="web1", pid=812, user="alice", kind="login") -> Event:
    return Event(kind, time, host, user, "198.51.100.7", port, "password", ("password",), pid=pid)


def forged(port=22, time=T0) -> Event:
    claim = login(port, time, user="root", pid=1)
    return claim._replace(kind="forged", forged=Forged(65534, 4242, "logger", "/usr/bin/logger", "sshd", 1, "login"))


def text(e: Event) -> Event:
    """The same line as rsyslog's classic layout has it: whole seconds."""
    return e._replace(time=e.time.replace(microsecond=0), source="/var/log/auth.log:1")


@pytest.fixture
def twins():
    t = Twins()
    t.hosts = {"web1"}
    return t


def kinds(events):
    return [e.kind for e in events]


def test_a_text_report_waits_for_the_journals_and_gives_way(twins):
    assert twins.feed_all([text(login())], at(0), journal=False) == []  # held
    assert twins.next_deadline() == at(0) + HOLD
    out = twins.feed_all([login()], at(0.3), journal=True)
    assert kinds(out) == [TWIN, "login"] and out[1].source is None  # the journal's
    assert twins.next_deadline() is None


def test_a_backlog_read_from_the_text_log_first_waits_while_the_journal_catches_up(twins):
    """After a restart the text log's backlog is read at once, the journal's
    in batches that take longer than the hold: a forged line's text report
    must not go out as a login before its journal twin comes."""
    backlog = [forged(port=p, time=at(p)) for p in range(1, 6)]
    assert twins.feed_all([text(e) for e in backlog], at(10), journal=False) == []
    now, out = at(10), []
    for e in backlog[:-1]:  # the journal catching up, one batch every 0.8 s: past every deadline
        now += timedelta(seconds=0.8)
        out += twins.feed_all([e], now, journal=True) + twins.flush(now)
        assert "login" not in kinds(out), "a forgery went out as a login"
    assert twins.next_deadline() == now + HOLD  # while the journal speaks, no busy wait
    now += timedelta(seconds=0.8)
    out += twins.feed_all([backlog[-1]], now, journal=True)
    assert sorted(kinds(out)) == ["forged"] * 5 + [TWIN] * 5  # in order: each text report gave way


def test_a_text_report_the_journal_went_past_goes_out_while_the_journal_still_speaks(twins):
    twins.feed_all([text(login(port=1, time=at(0)))], at(10), journal=False)  # a line the journal never had
    out = twins.feed_all([login(port=2, time=at(5))], at(10.1), journal=True)  # the journal is past it
    assert [e.port for e in out if e.kind == "login"] == [1, 2]


def test_a_text_report_after_the_journals_is_dropped_at_once(twins):
    assert kinds(twins.feed_all([login()], at(0), journal=True)) == ["login"]
    assert kinds(twins.feed_all([text(login())], at(0.2), journal=False)) == [TWIN]


def test_a_text_report_without_a_twin_goes_out_when_its_hold_ends(twins):
    twins.feed_all([text(login())], at(0), journal=False)
    assert twins.flush(at(0) + HOLD - timedelta(milliseconds=1)) == []
    assert kinds(twins.flush(at(0) + HOLD)) == ["login"]
    # and its late journal twin is the one dropped
    assert kinds(twins.feed_all([login()], at(5), journal=True)) == [TWIN]


def test_reports_leave_in_the_order_they_came(twins):
    twins.feed_all([text(login(1))], at(0), journal=False)
    assert twins.feed_all([login(2)], at(0.1), journal=True) == []  # behind the held one
    out = twins.feed_all([login(1)], at(0.2), journal=True)
    assert [(e.kind, e.port) for e in out] == [(TWIN, 1), ("login", 2), ("login", 1)]


def test_a_forgery_is_never_swallowed(twins):
    # the text log shows the forged line as a login: held, then replaced by the forgery
    twins.feed_all([text(login(22, user="root", pid=1))], at(0), journal=False)
    assert kinds(twins.feed_all([forged()], at(0.2), journal=True)) == [TWIN, "forged"]
    # even when the text report's hold ran out and it went out already
    twins.feed_all([text(login(23, user="root", pid=1))], at(1), journal=False)
    assert kinds(twins.flush(at(3))) == ["login"]
    assert kinds(twins.feed_all([forged(23)], at(3), journal=True)) == ["forged"]


def test_identical_lines_are_paired_one_to_one(twins):
    fail = login(kind="failure")  # one connection, three wrong passwords: three identical lines
    out = twins.feed_all([fail, fail, fail], at(0), journal=True)
    assert kinds(out) == ["failure"] * 3
    assert kinds(twins.feed_all([text(fail)] * 3, at(0.1), journal=False)) == [TWIN] * 3
    twins.feed_all([text(fail)], at(0.2), journal=False)  # a fourth only the text log has
    assert kinds(twins.flush(at(2))) == ["failure"]


def test_the_host_name_is_compared_up_to_its_first_dot(twins):
    twins.feed_all([login(host="web1.example.com")], at(0), journal=True)
    assert kinds(twins.feed_all([text(login(host="WEB1"))], at(0.1), journal=False)) == [TWIN]


def test_other_hosts_of_a_central_log_are_not_held(twins):
    assert kinds(twins.feed_all([text(login(host="db7"))], at(0), journal=False)) == ["login"]


def test_what_differs_keeps_both(twins):
    twins.feed_all([login()], at(0), journal=True)
    for other in (login(40001), login(pid=813), login(user="bob"), login(kind="failure"),
                  login(time=T0 + timedelta(seconds=3))):
        assert twins.feed_all([text(other)], at(0.1), journal=False) == []
        assert kinds(twins.flush(at(5))) == [other.kind]


def test_reports_read_before_a_restart_are_remembered(twins):
    twins.learn([login()], journal=True)  # the journal's context: read before the crash
    assert kinds(twins.feed_all([text(login())], at(0), journal=False)) == [TWIN]


def test_memory_is_bounded(twins, monkeypatch):
    monkeypatch.setattr(twins_module, "MEMORY", 10)
    twins.feed_all([login(p) for p in range(100)], at(0), journal=True)
    assert sum(len(q) for q in twins._unpaired.values()) == 10
    assert kinds(twins.feed_all([text(login(99))], at(0.1), journal=False)) == [TWIN]
    twins.feed_all([text(login(0))], at(0.1), journal=False)  # forgotten: held, then let out
    assert kinds(twins.flush(at(3))) == ["login"]


def test_through_the_pipeline_one_alert_and_both_positions(tmp_path):
    """Positions are acknowledged by counting events: a dropped report counts."""
    file_pos = Position("/var/log/auth.log", 1, 2, 100, b"fp", None, 10)
    journal_pos = Position("journal", offset=1, cursor="c1")
    here = socket.gethostname()  # the journal speaks for this host from the start
    with Store(str(tmp_path / "state.db")) as store:
        p = Pipeline(store, position_interval=0)
        p.pair_reports(True)
        p.feed([text(login(host=here))], at(0), file_pos, journal=False)
        p.flush()
        assert store.position("/var/log/auth.log") is None  # its only line is held
        results = p.feed([login(host=here), login(40001, host=here, user="bob")], at(0.2), journal_pos, journal=True)
        assert [(r.event.user, r.event.source) for r in results if r.alert] == [("alice", None), ("bob", None)]
        assert store.alert_count() == 2
        assert store.position("/var/log/auth.log") == file_pos and store.position("journal").cursor == "c1"
        p.pair_reports(False)
        assert p.twins is None
