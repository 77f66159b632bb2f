"""The state store: schema versions, positions, the outbox."""

import sqlite3
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
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS + ["CREATE TABLE x (a); THIS IS NOT SQL;"])
    with pytest.raises(StoreError):
        Store(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS) - 1
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
        assert s.enqueue([alert(port=1), alert(port=2)]) == 2
        assert s.enqueue([alert(port=2), alert(port=3)]) == 1
        assert s.alert_count() == 3
        rows = s.db.execute("SELECT target, state FROM deliveries ORDER BY alert_id, target").fetchall()
        assert rows.count(("mail", "pending")) == 3 and len(rows) == 6


def test_alerts_and_position_are_written_together(tmp_path):
    path = str(tmp_path / "s.db")
    with Store(path) as s:
        s.enqueue([alert()], Position("/var/log/auth.log", 2049, 1234, 5678, b"head", None))
    with Store(path) as s:
        assert s.position("/var/log/auth.log") == Position("/var/log/auth.log", 2049, 1234, 5678, b"head", None)
        assert s.position("/elsewhere") is None


def test_a_failing_write_keeps_neither(tmp_path):
    with Store(str(tmp_path / "s.db")) as s:
        s.db.execute("CREATE TRIGGER boom BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        with pytest.raises(StoreError, match="disk full"):
            s.enqueue([alert()], Position("/var/log/auth.log", 1, 2, 3))
        assert s.alert_count() == 0
        assert s.position("/var/log/auth.log") is None
