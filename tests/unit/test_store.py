"""The state store: schema versions, positions, the outbox."""

import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from authwatch import store as store_module
from authwatch.alert import Alert
from authwatch.event import Event, event_id
from authwatch.store import Position, Store, StoreError

T = datetime(2026, 11, 22, 15, 4, 5, tzinfo=timezone.utc)


def alert(user="alice", port=1, targets=("mail", "chat")):
    e = Event("login", T, "web1", user, "198.51.100.7", port, "password", ("password",))
    return Alert(event_id(e), e, "info", None, ["every login alerts"], targets)


def test_new_store_is_at_the_latest_version_in_wal_mode(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        assert s.version == len(store_module.MIGRATIONS)
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_run_in_order_from_an_older_version(tmp_path, monkeypatch):
    path = str(tmp_path / "s.db")
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    Store(path).close()
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS + ["CREATE TABLE later (x INTEGER);"])
    with Store(path) as s:
        assert s.version == 2
        assert s.db.execute("SELECT count(*) FROM later").fetchone()[0] == 0


def test_a_failed_migration_leaves_the_old_version(tmp_path, monkeypatch):
    path = str(tmp_path / "s.db")
    Store(path).close()
    latest = len(store_module.MIGRATIONS)
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS + ["CREATE TABLE x (a); THIS IS NOT SQL;"])
    with pytest.raises(StoreError):
        Store(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == latest
    assert not sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE name='x'").fetchall()


def test_a_newer_store_is_refused(tmp_path):
    path = str(tmp_path / "s.db")
    Store(path).close()
    sqlite3.connect(path).execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="newer than this authwatch"):
        Store(path)


def test_unwritable_place_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError):
        Store(str(blocker / "sub" / "s.db"))


def test_enqueue_is_idempotent_per_alert_id(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        assert [a.event.port for a in s.enqueue([alert(port=1), alert(port=2)])] == [1, 2]
        assert [a.event.port for a in s.enqueue([alert(port=2), alert(port=3)])] == [3]  # the new one
        assert s.alert_count() == 3
        rows = s.db.execute("SELECT target, state FROM deliveries ORDER BY alert_id, target").fetchall()
        assert rows.count(("mail", "pending")) == 3 and len(rows) == 6


def test_alerts_and_position_are_written_together(tmp_path):
    path = str(tmp_path / "s.db")
    with Store(path) as s:
        s.enqueue([alert()], [Position("/var/log/auth.log", 2049, 1234, 5678, b"head", None, 42)])
    with Store(path) as s:
        assert s.position("/var/log/auth.log") == Position("/var/log/auth.log", 2049, 1234, 5678, b"head", None, 42)
        assert s.position("/elsewhere") is None


def test_a_failing_write_keeps_neither(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        s.db.execute("CREATE TRIGGER boom BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        with pytest.raises(StoreError, match="disk full"):
            s.enqueue([alert()], [Position("/var/log/auth.log", 1, 2, 3)])
        assert s.alert_count() == 0
        assert s.position("/var/log/auth.log") is None


def test_a_full_disk_is_reported_as_such_and_the_store_stays_usable(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        s.db.execute(f"PRAGMA max_page_count={s.db.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.raises(StoreError, match="database or disk is full"):
            for port in range(10_000):
                s.enqueue([alert(port=port)], [Position("/var/log/auth.log", 1, 2, port)])
        s.db.execute("PRAGMA max_page_count=1000000")
        assert len(s.enqueue([alert(port=port)], [Position("/var/log/auth.log", 1, 2, port)])) == 1
        assert s.position("/var/log/auth.log").offset == port


def test_queued_alerts_come_in_queue_order(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        s.enqueue([alert(port=5), alert(port=3)])
        s.enqueue([alert(port=4)])
        queued = s.queued_alerts()
        assert [a.event["port"] for a in queued] == [5, 3, 4]
        assert [a.event["port"] for a in s.queued_alerts(after=queued[0].seq, limit=1)] == [3]


def test_two_processes_creating_the_store_at_once_both_succeed(tmp_path):
    path = str(tmp_path / "s.db")
    script = f"from authwatch.store import Store; Store({path!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate()[1] for p in procs]
    assert errors == [""] * 6
    with Store(path) as s:
        assert s.version == len(store_module.MIGRATIONS)


def test_migration_2_keeps_queued_deliveries_of_a_version_1_store(tmp_path, monkeypatch):
    path = str(tmp_path / "s.db")
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    with Store(path) as s:
        s.db.execute("INSERT INTO alerts (id, seq, created, severity, reasons, event) VALUES "
                     "('a1', 1, 100, 'info', '[]', '{\"kind\": \"login\"}')")
        s.db.execute("INSERT INTO deliveries (alert_id, target, updated) VALUES ('a1', 'mail', 123)")
    monkeypatch.undo()
    with Store(path) as s:
        (row,) = s.outbox()
        assert (row.alert_id, row.target, row.state, row.queued, row.event) == ("a1", "mail", "pending", 123, {"kind": "login"})


def test_outbox_queries_for_delivery(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        a, b, c = alert(port=1), alert(port=2), alert(port=3)
        s.enqueue([a, b, c])
        assert s.next_pending("mail").alert_id == a.id
        assert s.next_pending("mail", after_seq=s.next_pending("mail").seq).alert_id == b.id
        state = s.target_state("mail")
        assert state.failures == 0 and state.retry_at == 0
        s.record_attempt(state._replace(failures=1, last_error="boom"), [a.id], 1000.0, "failed", "boom", 2000.0)
        assert s.target_state("mail").last_error == "boom"
        assert s.next_pending("mail").alert_id == b.id
        assert s.due_set_aside("mail", 1999.0) == [] and s.next_set_aside_at("mail") == 2000.0
        assert [r.alert_id for r in s.due_set_aside("mail", 2000.0)] == [a.id]
        s.hold("mail", b.id, 1000.0)
        assert [r.alert_id for r in s.held("mail")] == [b.id]
        s.record_attempt(s.target_state("mail"), [b.id, c.id], 1001.0, "sent")
        assert s.sent_since(1001.0) == 2 and s.undelivered() == 4  # a to mail; a, b, c to chat
        assert s.outbox_counts() == {"mail": {"failed": 1, "sent": 2}, "chat": {"pending": 3}}


def test_retry_expire_and_prune(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        a = alert(targets=("mail",))
        s.enqueue([a])
        s.db.execute("UPDATE deliveries SET queued = 0")
        assert s.expire("mail", cutoff=10.0, now=20.0) == 1
        assert s.alert_ids(a.id[:6]) == [a.id] and s.alert_ids("zz") == [] and s.alert_ids("") == []
        s.save_target_state(s.target_state("mail")._replace(retry_at=9e9))
        assert s.retry(a.id, now=30.0) == ["mail"]
        assert s.target_state("mail").retry_at == 0 and s.next_pending("mail").queued == 30.0
        assert s.retry(a.id, now=31.0) == []  # only failed or dead ones
        assert s.prune(before=1e12) == 0  # still waiting: kept
        s.record_attempt(s.target_state("mail"), [a.id], 40.0, "sent")
        assert s.prune(before=1e12) == 1 and s.alert_count() == 0


def test_health_marks_and_positions_updated(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        assert s.health_mark("heartbeat") is None
        s.set_health_mark("heartbeat", 5.0)
        assert s.health_mark("heartbeat") == 5.0
        s.set_health_mark("heartbeat", None)
        assert s.health_mark("heartbeat") is None
        s.enqueue([], Position("/var/log/auth.log", 1, 2, 3))
        ((source, updated),) = s.positions_updated()
        assert source == "/var/log/auth.log" and updated > 0
        time.sleep(0.01)
        s.enqueue([], Position("/var/log/auth.log", 1, 2, 3))  # saved again, not moved (each scan does so)
        assert s.positions_updated() == [(source, updated)]
        s.enqueue([], Position("/var/log/auth.log", 1, 2, 4))
        ((_, moved),) = s.positions_updated()
        assert moved > updated
        s.enqueue([], Position("/var/log/auth.log", 1, 5, 4))  # a new file at the same offset: moved too
        assert s.positions_updated()[0][1] > moved
