"""The state store: source positions, the outbox, and (later) history.

One narrow interface; SQLite in WAL mode behind it. No SQL lives anywhere else.
The schema has a version (`PRAGMA user_version`) and every change to it is a
new entry in MIGRATIONS, applied in order on open, so a state file written by
any earlier release keeps working.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from typing import NamedTuple

from authwatch.alert import Alert

MIGRATIONS: list[str] = [
    # 1: positions and the outbox
    """
    CREATE TABLE positions (
        source      TEXT PRIMARY KEY,
        device      INTEGER,
        inode       INTEGER,
        offset      INTEGER NOT NULL DEFAULT 0,
        fingerprint BLOB,
        cursor      TEXT,
        updated     REAL NOT NULL
    );
    CREATE TABLE alerts (
        id       TEXT PRIMARY KEY,      -- stable: the same logged event always gets the same id
        seq      INTEGER UNIQUE,        -- queue order
        created  REAL NOT NULL,
        severity TEXT NOT NULL,
        rule     TEXT,
        reasons  TEXT NOT NULL,         -- JSON list of strings
        event    TEXT NOT NULL          -- JSON, as docs/event.schema.json
    );
    CREATE TABLE deliveries (
        alert_id     TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        target       TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'pending',   -- pending, sent, failed, dead
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0,
        last_error   TEXT,
        updated      REAL NOT NULL,
        PRIMARY KEY (alert_id, target)
    );
    CREATE INDEX deliveries_due ON deliveries(state, target, next_attempt);
    """,
]


class StoreError(Exception):
    """The state store cannot be opened or written (one line, for the user)."""


class Position(NamedTuple):
    """Where a source has been read up to."""

    source: str
    device: int | None = None
    inode: int | None = None
    offset: int = 0
    fingerprint: bytes | None = None
    cursor: str | None = None


class Store:
    def __init__(self, path: str, durable: bool = True):
        """`durable=False` (a scratch store that dies with the run) skips the
        fsync of each commit."""
        self.path = path
        try:
            if path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as e:
            raise StoreError(f"state store {path}: {e}") from None
        except OSError as e:
            raise StoreError(f"state store {path}: {e.strerror or e}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"state store {self.path} has schema version {current}, newer than this authwatch "
                f"({len(MIGRATIONS)}); upgrade authwatch or use another --state"
            )
        for number in range(current, len(MIGRATIONS)):
            try:
                self.db.executescript(
                    f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; PRAGMA user_version={number + 1}; COMMIT;"
                )
            except sqlite3.Error:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _transaction(self):
        return _Transaction(self.db)

    # -- positions ---------------------------------------------------------

    def position(self, source: str) -> Position | None:
        row = self.db.execute(
            "SELECT source, device, inode, offset, fingerprint, cursor FROM positions WHERE source=?", (source,)
        ).fetchone()
        return Position(*row) if row else None

    # -- the outbox --------------------------------------------------------

    def enqueue(self, alerts: Iterable[Alert], position: Position | None = None) -> int:
        """Write alerts (each once: an id already queued is left alone) and,
        in the same transaction, the position reached by the source that
        produced them. Returns how many alerts were new."""
        now = time.time()
        added = 0
        try:
            with self._transaction():
                seq = self.db.execute("SELECT coalesce(max(seq), 0) FROM alerts").fetchone()[0]
                for alert in alerts:
                    seq += 1
                    cur = self.db.execute(
                        "INSERT OR IGNORE INTO alerts (id, seq, created, severity, rule, reasons, event) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (alert.id, seq, now, alert.severity, alert.rule, json.dumps(alert.reasons),
                         json.dumps(alert.event_json())),
                    )
                    if cur.rowcount:
                        added += 1
                        self.db.executemany(
                            "INSERT INTO deliveries (alert_id, target, updated) VALUES (?, ?, ?)",
                            [(alert.id, target, now) for target in alert.targets],
                        )
                if position is not None:
                    self._save_position(position, now)
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None
        return added

    def _save_position(self, p: Position, now: float) -> None:
        self.db.execute(
            "INSERT INTO positions (source, device, inode, offset, fingerprint, cursor, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET device=excluded.device, "
            "inode=excluded.inode, offset=excluded.offset, fingerprint=excluded.fingerprint, "
            "cursor=excluded.cursor, updated=excluded.updated",
            (*p, now),
        )

    def alert_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM alerts").fetchone()[0]


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
