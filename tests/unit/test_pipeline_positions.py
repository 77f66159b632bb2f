"""End-to-end acknowledgement: a position is saved only once the events of
the lines before it have left the pipeline, together with their alerts."""

from datetime import datetime, timedelta, timezone

import pytest

from authwatch.event import Event
from authwatch.pipeline import Pipeline
from authwatch.store import Position, Store, StoreError

T0 = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
HOLD = timedelta(milliseconds=300)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def login(port: int) -> Event:
    return Event("login", at(port / 1000), "web1", "alice", "198.51.100.7", port, "password", ("password",), pid=port)


def session(port: int) -> Event:
    return Event("session", at(port / 1000 + 0.01), "web1", "alice", "198.51.100.7", port, session="shell", pid=port + 1)


def pos(offset: int) -> Position:
    return Position("/var/log/auth.log", 1, 2, offset, b"fp", None, offset // 10 + 1)


@pytest.fixture
def store(tmp_path):
    with Store(str(tmp_path / "state.db")) as s:
        yield s


def saved(store) -> int | None:
    p = store.position("/var/log/auth.log")
    return p.offset if p else None


def test_a_held_login_keeps_the_saved_position_before_its_lines(store):
    p = Pipeline(store, hold=HOLD)
    p.learn([session(1)])  # this host logs session lines: its logins wait for theirs
    p.feed([login(2)], at(0), pos(100))
    p.flush()
    assert saved(store) is None and store.alert_count() == 0
    p.feed([Event("failure", at(0.1), "web1", "root", "203.0.113.5", 9, "password")], at(0.1), pos(200))
    p.flush()
    assert saved(store) is None  # behind the held login
    p.feed([session(2)], at(0.2), pos(300))
    assert saved(store) == 300 and store.alert_count() == 1
    assert store.queued_alerts()[0].event["session"] == "shell"


def test_the_position_moves_when_the_hold_runs_out(store):
    p = Pipeline(store, hold=HOLD)
    p.learn([session(1)])
    p.feed([login(2)], at(0), pos(100))
    assert p.next_deadline() == at(0) + HOLD
    p.tick(at(0.2))
    assert saved(store) is None
    p.tick(at(0.3))
    assert saved(store) == 100
    assert store.queued_alerts()[0].event["session"] == "unknown"


def test_a_crash_during_the_hold_rereads_the_login_and_queues_it_once(store):
    first = Pipeline(store, hold=HOLD)
    first.feed([login(1)], at(0), pos(100))  # no session lines yet: goes out at once
    first.learn([session(1)])
    first.feed([login(2)], at(1), pos(200))  # held ... and the process dies
    assert saved(store) == 100
    again = Pipeline(store, hold=HOLD)
    again.learn([session(1)])
    again.feed([login(2)], at(2), pos(200))
    again.feed([session(2)], at(2.1), pos(300))
    again.drain()
    assert [a.event["port"] for a in store.queued_alerts()] == [1, 2]
    assert saved(store) == 300


def test_positions_without_alerts_are_written_lazily_and_on_flush(store):
    p = Pipeline(store, position_interval=3600)
    noise = [Event("failure", at(0), "web1", "root", "203.0.113.5", 9, "password")]
    p.feed(noise, at(0), pos(100))
    p.feed(noise, at(0), pos(200))
    assert saved(store) is None
    p.flush()
    assert saved(store) == 200
    p.feed([login(3)], at(0), pos(300))  # an alert is written at once, with its position
    assert saved(store) == 300


def test_a_full_disk_loses_nothing_and_the_write_is_retried(store):
    p = Pipeline(store)
    p.feed([login(1)], at(0), pos(100))
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")  # SQLite now reports SQLITE_FULL
    with pytest.raises(StoreError, match="full"):
        for port in range(1000, 5000):  # fill what room is left
            p.feed([login(port)], at(0), pos(port * 10))
    assert p.unwritten
    before = store.alert_count()
    with pytest.raises(StoreError):
        p.feed([login(9)], at(0), pos(99990))
    assert store.alert_count() == before and saved(store) < 99990
    store.db.execute("PRAGMA max_page_count=1000000")  # space again
    p.flush()
    ports = {a.event["port"] for a in store.queued_alerts(limit=10_000)}
    assert ports == {1, 9, *range(1000, port + 1)}
    assert saved(store) == 99990
