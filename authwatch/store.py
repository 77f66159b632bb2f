"""The state store: source positions, the outbox, per-user history, and the
rules' cooldowns, digests and summary windows.

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
    # 2: per-user history (enrich/history.py), trusted sources, failure counts
    """
    CREATE TABLE history_users (
        host       TEXT NOT NULL,       -- '' when history.scope is fleet
        user       TEXT NOT NULL,
        first_seen REAL NOT NULL,       -- Unix time of the first login
        last_seen  REAL NOT NULL,
        logins     INTEGER NOT NULL,
        last_spot  TEXT,                -- JSON: the last login that had a location (impossible travel)
        PRIMARY KEY (host, user)
    ) WITHOUT ROWID;
    CREATE TABLE history (
        host       TEXT NOT NULL,
        user       TEXT NOT NULL,
        kind       TEXT NOT NULL,       -- ip, network, asn, country, key
        value      TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen  REAL NOT NULL,
        count      INTEGER NOT NULL,
        label      TEXT,                -- ip: the place; asn: the owner; country: its name; key: its name
        asn        INTEGER,             -- ip: the ASN at the last login
        PRIMARY KEY (host, user, kind, value)
    ) WITHOUT ROWID;  -- no index on last_seen: it would cost every save a quarter more, for a weekly purge
    CREATE TABLE trust (
        host  TEXT NOT NULL,            -- '' for every host
        user  TEXT NOT NULL,
        kind  TEXT NOT NULL,            -- ip (an address or a network) or key (a fingerprint)
        value TEXT NOT NULL,
        until REAL,                     -- Unix time; null: no end
        added REAL NOT NULL,
        PRIMARY KEY (host, user, kind, value)
    );
    CREATE TABLE failure_counts (       -- enrich/failures.py, kept over a clean restart
        generation TEXT NOT NULL,       -- when it ends (ISO 8601)
        which      TEXT NOT NULL,       -- ip or user
        key        TEXT NOT NULL,
        n          INTEGER NOT NULL
    );
    """,
    # 3: delivery: when each delivery was queued and sent, the state of each
    # target (backoff, failure streak, rate-limit window), and health marks.
    # Deliveries gain the state `held` (over the rate limit, waiting for the
    # digest); `failed` means set aside after repeated failures (still retried).
    # authwatch's own notices (heartbeat, a failing target, a silent source)
    # are alerts whose event has kind "notice".
    """
    ALTER TABLE deliveries ADD COLUMN queued REAL;     -- when it became due; dead_after counts from here
    ALTER TABLE deliveries ADD COLUMN sent REAL;
    UPDATE deliveries SET queued = updated;
    CREATE TABLE targets (
        name          TEXT PRIMARY KEY,
        failures      INTEGER NOT NULL DEFAULT 0,   -- failed attempts in a row
        retry_at      REAL NOT NULL DEFAULT 0,      -- backoff: no attempt before this
        failing_since REAL,                         -- first failure of the current streak
        last_error    TEXT,
        last_success  REAL,
        window_start  REAL NOT NULL DEFAULT 0,      -- rate limit: the current minute
        window_sent   INTEGER NOT NULL DEFAULT 0,
        told_failing  REAL                          -- when the other targets were told
    );
    CREATE TABLE health (
        key   TEXT PRIMARY KEY,                     -- heartbeat, silent:<source>
        value REAL NOT NULL
    );
    -- a target's queue in order (rowid follows alerts.seq) without sorting
    CREATE INDEX deliveries_queue ON deliveries(target, state);
    """,
    # 4: rules (authwatch/rules/engine.py): cooldowns, alerts held for the
    # next digest (quiet hours, `digest` rules), open summary windows.
    # Digests and summaries are alerts whose event has kind "digest" or
    # "summary", with their lines and counts in the event JSON.
    """
    CREATE TABLE rule_cooldowns (
        rule    TEXT NOT NULL,
        host    TEXT NOT NULL,
        user    TEXT NOT NULL,
        ip      TEXT NOT NULL,
        alerted REAL NOT NULL,          -- Unix time (of the event) of the last alert
        PRIMARY KEY (rule, host, user, ip)
    ) WITHOUT ROWID;
    CREATE TABLE digest_held (
        alert_id TEXT PRIMARY KEY,      -- the alert it would have been
        held     REAL NOT NULL,         -- Unix time (of the event)
        item     TEXT NOT NULL,         -- JSON: its line in the digest (event.Deferred)
        targets  TEXT NOT NULL          -- JSON list of target names
    );
    CREATE TABLE summary_windows (
        rule  TEXT PRIMARY KEY,         -- the rule's name
        tally TEXT NOT NULL             -- JSON (rules/tally.py)
    );
    """,
    # 5: the line number a file position is at, so that events read in follow
    # mode keep a meaningful `path:line` source
    """
    ALTER TABLE positions ADD COLUMN line INTEGER;
    """,
    # 6: which GeoIP databases a user's logins were looked up in (bits:
    # 1 City or Country, 2 ASN), whatever their addresses were: against this
    # baseline a country or ASN is new (enrich/history.py). Before, it was
    # having one on record.
    """
    ALTER TABLE history_users ADD COLUMN located INTEGER NOT NULL DEFAULT 0;
    UPDATE history_users SET located =
        EXISTS (SELECT 1 FROM history h WHERE h.host = history_users.host AND h.user = history_users.user
                AND h.kind = 'country')
        | 2 * EXISTS (SELECT 1 FROM history h WHERE h.host = history_users.host AND h.user = history_users.user
                      AND h.kind = 'asn');
    """,
]

# Delivery states. `held`: over the rate limit, waiting for the digest;
# `failed`: set aside after repeated failures, retried on its own schedule.
UNDELIVERED = ("pending", "held", "failed")
_UNDELIVERED_SQL = "('pending', 'held', 'failed')"


class StoreError(Exception):
    """The state store cannot be opened or written (one line, for the user)."""


class Position(NamedTuple):
    """Where a source has been read up to. For a file: the device and inode of
    the file being read, the byte offset just after the last consumed line, a
    fingerprint of the file's first bytes, and the number of the next line.
    `inode` None means "no file in progress: the next file at this path is
    read from its start"."""

    source: str
    device: int | None = None
    inode: int | None = None
    offset: int = 0
    fingerprint: bytes | None = None
    cursor: str | None = None
    line: int | None = None


class QueuedAlert(NamedTuple):
    """An alert as the outbox holds it."""

    seq: int
    id: str
    created: float  # time.time() of the insert
    severity: str
    event: dict


class HistoryChanges(NamedTuple):
    """What the history enricher changed since its last save, written in the
    same transaction as the alerts and the position (see `enqueue`)."""

    users: list[tuple]  # (host, user, first_seen, last_seen, logins, last_spot JSON, located)
    entries: list[tuple]  # (host, user, kind, value, first_seen, last_seen, count, label, asn)
    expire_before: float | None = None  # delete entries last seen before this
    failures: list[tuple] | None = None  # a full snapshot of the failure counts, replacing the stored one


class RuleChanges(NamedTuple):
    """What the rules engine changed since its last save, written with the
    alerts it decided (see `enqueue`)."""

    cooldowns: list[tuple]  # (rule, host, user, ip, alerted)
    cooldowns_before: float | None  # forget cooldowns of alerts before this
    held: list[tuple]  # (alert_id, held, item JSON, targets JSON)
    released: list[str]  # alert ids sent in a digest
    windows: list[tuple]  # (rule, tally JSON): open summary windows
    closed: list[str]  # rules whose window closed


class RuleState(NamedTuple):
    cooldowns: list[tuple]  # (rule, host, user, ip, alerted)
    held: list[tuple]  # (alert_id, held, item JSON, targets JSON), oldest first
    windows: list[tuple]  # (rule, tally JSON)


class HistoryRow(NamedTuple):
    host: str
    user: str
    kind: str
    value: str
    first_seen: float
    last_seen: float
    count: int
    label: str | None
    asn: int | None


class TrustRow(NamedTuple):
    host: str
    user: str
    kind: str
    value: str
    until: float | None
    added: float


class Outgoing(NamedTuple):
    """One alert to one target, as the outbox holds it."""

    alert_id: str
    target: str
    seq: int  # queue order
    created: float
    severity: str
    rule: str | None
    reasons: list[str]
    event: dict
    state: str
    attempts: int
    next_attempt: float
    last_error: str | None
    queued: float


class TargetState(NamedTuple):
    """What delivery remembers about one target across restarts."""

    name: str
    failures: int = 0
    retry_at: float = 0.0
    failing_since: float | None = None
    last_error: str | None = None
    last_success: float | None = None
    window_start: float = 0.0
    window_sent: int = 0
    told_failing: float | None = None


# `seq` is the delivery's rowid: deliveries are inserted in queue order, so it
# orders like alerts.seq, and the index deliveries_queue yields it unsorted.
_OUTGOING = (
    "SELECT d.alert_id, d.target, d.rowid, a.created, a.severity, a.rule, a.reasons, a.event, d.state, d.attempts, "
    "d.next_attempt, d.last_error, d.queued FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
)


def _outgoing(row: tuple) -> Outgoing:
    return Outgoing(*row[:6], json.loads(row[6]), json.loads(row[7]), *row[8:])


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
                if self.version > number:
                    continue  # another connection (a delivery thread, another process) applied it meanwhile
                raise

    def _transaction(self):
        return _Transaction(self.db)

    # -- positions ---------------------------------------------------------

    def position(self, source: str) -> Position | None:
        row = self.db.execute(
            "SELECT source, device, inode, offset, fingerprint, cursor, line FROM positions WHERE source=?", (source,)
        ).fetchone()
        return Position(*row) if row else None

    # -- the outbox --------------------------------------------------------

    def enqueue(self, alerts: Iterable[Alert], positions: Position | Iterable[Position] | None = (),
                changes: Iterable[HistoryChanges | RuleChanges] = ()) -> list[Alert]:
        """Write alerts (each once: an id already queued is left alone) and,
        in the same transaction, the positions reached by the sources that
        produced them (one or several) and what history and the rules learned
        from the same events. Returns the alerts that were new."""
        if positions is None:
            positions = ()
        elif isinstance(positions, Position):
            positions = (positions,)
        now = time.time()
        added: list[Alert] = []
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
                        added.append(alert)
                        self.db.executemany(
                            "INSERT INTO deliveries (alert_id, target, updated, queued) VALUES (?, ?, ?, ?)",
                            [(alert.id, target, now, now) for target in alert.targets],
                        )
                for c in changes:
                    if isinstance(c, RuleChanges):
                        self._save_rules(c)
                    else:
                        self._save_history(c)
                for position in positions:
                    self._save_position(position, now)
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None
        return added

    def _save_position(self, p: Position, now: float) -> None:
        """`updated` is when the source last advanced: a position saved again
        unchanged (each `scan`, each start of `run`) keeps it."""
        self.db.execute(
            "INSERT INTO positions (source, device, inode, offset, fingerprint, cursor, line, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET "
            "updated=CASE WHEN device IS excluded.device AND inode IS excluded.inode AND offset IS excluded.offset "
            "AND fingerprint IS excluded.fingerprint AND cursor IS excluded.cursor THEN updated "
            "ELSE excluded.updated END, device=excluded.device, inode=excluded.inode, offset=excluded.offset, "
            "fingerprint=excluded.fingerprint, cursor=excluded.cursor, line=excluded.line",
            (*p, now),
        )

    # -- rules -------------------------------------------------------------

    def _save_rules(self, c: RuleChanges) -> None:
        self.db.executemany("INSERT OR REPLACE INTO rule_cooldowns (rule, host, user, ip, alerted) "
                            "VALUES (?, ?, ?, ?, ?)", c.cooldowns)
        if c.cooldowns_before is not None:
            self.db.execute("DELETE FROM rule_cooldowns WHERE alerted < ?", (c.cooldowns_before,))
        self.db.executemany("INSERT OR IGNORE INTO digest_held (alert_id, held, item, targets) VALUES (?, ?, ?, ?)",
                            c.held)
        self.db.executemany("DELETE FROM digest_held WHERE alert_id = ?", [(i,) for i in c.released])
        self.db.executemany("DELETE FROM summary_windows WHERE rule = ?", [(r,) for r in c.closed])
        self.db.executemany("INSERT OR REPLACE INTO summary_windows (rule, tally) VALUES (?, ?)", c.windows)

    def rule_state(self) -> RuleState:
        try:
            return RuleState(
                self.db.execute("SELECT rule, host, user, ip, alerted FROM rule_cooldowns").fetchall(),
                self.db.execute("SELECT alert_id, held, item, targets FROM digest_held ORDER BY held").fetchall(),
                self.db.execute("SELECT rule, tally FROM summary_windows").fetchall(),
            )
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None

    # -- history -----------------------------------------------------------

    def _save_history(self, c: HistoryChanges) -> None:
        # Merged with what is stored (min/max), so two writers (the service
        # and `authwatch learn`) never undo each other.
        self.db.executemany(
            "INSERT INTO history_users (host, user, first_seen, last_seen, logins, last_spot, located) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(host, user) DO UPDATE SET first_seen=min(first_seen, excluded.first_seen), "
            "last_seen=max(last_seen, excluded.last_seen), logins=max(logins, excluded.logins), "
            "last_spot=coalesce(excluded.last_spot, last_spot), located=located | excluded.located",
            c.users,
        )
        self.db.executemany(
            "INSERT INTO history (host, user, kind, value, first_seen, last_seen, count, label, asn) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(host, user, kind, value) DO UPDATE SET "
            "first_seen=min(first_seen, excluded.first_seen), last_seen=max(last_seen, excluded.last_seen), "
            "count=max(count, excluded.count), label=coalesce(excluded.label, label), asn=coalesce(excluded.asn, asn)",
            c.entries,
        )
        if c.expire_before is not None:
            self.db.execute("DELETE FROM history WHERE last_seen < ?", (c.expire_before,))
        if c.failures is not None:
            self.db.execute("DELETE FROM failure_counts")
            self.db.executemany("INSERT INTO failure_counts (generation, which, key, n) VALUES (?, ?, ?, ?)",
                                c.failures)

    def user_history(self, host: str, user: str) -> tuple[tuple | None, list[HistoryRow]]:
        """(first_seen, last_seen, logins, last_spot, located) of a user, or None, and their entries."""
        try:
            row = self.db.execute(
                "SELECT first_seen, last_seen, logins, last_spot, located FROM history_users WHERE host=? AND user=?",
                (host, user),
            ).fetchone()
            entries = [HistoryRow(*r) for r in self.db.execute(
                "SELECT host, user, kind, value, first_seen, last_seen, count, label, asn FROM history "
                "WHERE host=? AND user=?", (host, user))]
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None
        return row, entries

    def history(self, user: str | None = None, kinds: Iterable[str] = ("ip",)) -> list[HistoryRow]:
        """History entries of `kinds`, for one user or all, by user then most recent first."""
        kinds = list(kinds)
        sql = ("SELECT host, user, kind, value, first_seen, last_seen, count, label, asn FROM history "
               f"WHERE kind IN ({','.join('?' * len(kinds))})")
        args: list = list(kinds)
        if user is not None:
            sql += " AND user=?"
            args.append(user)
        return [HistoryRow(*r) for r in self.db.execute(sql + " ORDER BY user, host, last_seen DESC", args)]

    def history_users(self) -> int:
        return self.db.execute("SELECT count(*) FROM history_users").fetchone()[0]

    def failure_counts(self) -> list[tuple]:
        return self.db.execute("SELECT generation, which, key, n FROM failure_counts").fetchall()

    # -- trusted sources ---------------------------------------------------

    def add_trust(self, host: str, user: str, kind: str, value: str, until: float | None) -> None:
        try:
            with self._transaction():
                self.db.execute(
                    "INSERT OR REPLACE INTO trust (host, user, kind, value, until, added) VALUES (?, ?, ?, ?, ?, ?)",
                    (host, user, kind, value, until, time.time()),
                )
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None

    def remove_trust(self, host: str, user: str, kind: str, value: str) -> int:
        try:
            with self._transaction():
                return self.db.execute(
                    "DELETE FROM trust WHERE host=? AND user=? AND kind=? AND value=?", (host, user, kind, value)
                ).rowcount
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None

    def trusts(self) -> list[TrustRow]:
        return [TrustRow(*r) for r in self.db.execute(
            "SELECT host, user, kind, value, until, added FROM trust ORDER BY user, host, kind, value")]

    def alert_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM alerts").fetchone()[0]

    def queued_alerts(self, after: int = 0, limit: int = 1000) -> list[QueuedAlert]:
        """Alerts in queue order, from the one after sequence number `after`."""
        rows = self.db.execute(
            "SELECT seq, id, created, severity, event FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [QueuedAlert(seq, id_, created, severity, json.loads(event)) for seq, id_, created, severity, event in rows]

    def positions_updated(self) -> list[tuple[str, float]]:
        """(source, when it last advanced) for every source read so far."""
        return self.db.execute("SELECT source, updated FROM positions ORDER BY source").fetchall()

    # -- delivery (authwatch.deliver) ----------------------------------------

    def relax_durability(self) -> None:
        """For a connection whose commits may be lost on power failure at no
        cost but a resend (delivery marks): no fsync per commit."""
        self.db.execute("PRAGMA synchronous=NORMAL")

    def next_pending(self, target: str, after_seq: int = 0) -> Outgoing | None:
        """The oldest alert still to go to `target` (after `after_seq`)."""
        row = self.db.execute(
            _OUTGOING + "WHERE d.target = ? AND d.state = 'pending' AND d.rowid > ? ORDER BY d.rowid LIMIT 1",
            (target, after_seq),
        ).fetchone()
        return _outgoing(row) if row else None

    def due_set_aside(self, target: str, now: float, limit: int = 20) -> list[Outgoing]:
        rows = self.db.execute(
            _OUTGOING + "WHERE d.target = ? AND d.state = 'failed' AND d.next_attempt <= ? ORDER BY d.rowid LIMIT ?",
            (target, now, limit),
        ).fetchall()
        return [_outgoing(r) for r in rows]

    def next_set_aside_at(self, target: str) -> float | None:
        return self.db.execute(
            "SELECT min(next_attempt) FROM deliveries WHERE target = ? AND state = 'failed'", (target,)
        ).fetchone()[0]

    def held(self, target: str) -> list[Outgoing]:
        rows = self.db.execute(_OUTGOING + "WHERE d.target = ? AND d.state = 'held' ORDER BY d.rowid", (target,))
        return [_outgoing(r) for r in rows.fetchall()]

    def hold(self, target: str, alert_id: str, now: float) -> None:
        self._write("UPDATE deliveries SET state = 'held', updated = ? WHERE target = ? AND alert_id = ?",
                    (now, target, alert_id))

    def record_attempt(self, state: TargetState, alert_ids: Iterable[str], now: float, outcome: str,
                       error: str | None = None, next_attempt: float = 0.0) -> None:
        """One attempt to deliver `alert_ids` to `state.name` ended in
        `outcome` (sent, pending, failed); saves the target's state with it."""
        ids = list(alert_ids)
        try:
            with self._transaction():
                self.db.executemany(
                    "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, next_attempt = ?, "
                    "updated = ?, sent = CASE WHEN ? = 'sent' THEN ? END WHERE target = ? AND alert_id = ?",
                    [(outcome, error, next_attempt, now, outcome, now, state.name, i) for i in ids],
                )
                self._save_target(state)
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None

    def expire(self, target: str, cutoff: float, now: float) -> int:
        """Mark dead what is still undelivered to `target` since before `cutoff`."""
        return self._write(
            "UPDATE deliveries SET state = 'dead', updated = ? WHERE target = ? AND state IN "
            f"{_UNDELIVERED_SQL} AND queued < ?",
            (now, target, cutoff),
        )

    def abandon_unknown_targets(self, known: Iterable[str], now: float) -> int:
        """Mark dead what still waits for a target that is no longer configured."""
        known = tuple(known)
        return self._write(
            f"UPDATE deliveries SET state = 'dead', updated = ?, last_error = 'the target is no longer configured' "
            f"WHERE state IN {_UNDELIVERED_SQL} AND target NOT IN ({', '.join('?' * len(known))})",
            (now, *known),
        )

    def target_state(self, name: str) -> TargetState:
        row = self.db.execute(f"SELECT {', '.join(TargetState._fields)} FROM targets WHERE name = ?",
                              (name,)).fetchone()
        return TargetState(*row) if row else TargetState(name)

    def save_target_state(self, state: TargetState) -> None:
        try:
            with self._transaction():
                self._save_target(state)
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None

    def _save_target(self, state: TargetState) -> None:
        fields = TargetState._fields
        self.db.execute(
            f"INSERT OR REPLACE INTO targets ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})", state
        )

    def target_states(self) -> list[TargetState]:
        rows = self.db.execute(f"SELECT {', '.join(TargetState._fields)} FROM targets ORDER BY name")
        return [TargetState(*r) for r in rows.fetchall()]

    def outbox(self, states: Iterable[str] = (*UNDELIVERED, "dead"), limit: int = 1000) -> list[Outgoing]:
        states = tuple(states)
        rows = self.db.execute(
            _OUTGOING + f"WHERE d.state IN ({', '.join('?' * len(states))}) ORDER BY a.seq, d.target LIMIT ?",
            (*states, limit),
        )
        return [_outgoing(r) for r in rows.fetchall()]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """target -> state -> number of deliveries."""
        counts: dict[str, dict[str, int]] = {}
        for target, state, n in self.db.execute("SELECT target, state, count(*) FROM deliveries GROUP BY 1, 2"):
            counts.setdefault(target, {})[state] = n
        return counts

    def untargeted(self) -> int:
        """Alerts queued while no target was configured: they have no delivery."""
        return self.db.execute("SELECT count(*) FROM alerts a WHERE NOT EXISTS "
                               "(SELECT 1 FROM deliveries d WHERE d.alert_id = a.id)").fetchone()[0]

    def sent_since(self, since: float) -> int:
        return self.db.execute("SELECT count(*) FROM deliveries WHERE sent >= ?", (since,)).fetchone()[0]

    def undelivered(self) -> int:
        return self.db.execute(f"SELECT count(*) FROM deliveries WHERE state IN {_UNDELIVERED_SQL}").fetchone()[0]

    def alert_ids(self, prefix: str) -> list[str]:
        """The ids of queued alerts that start with `prefix` (hex digits)."""
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []
        rows = self.db.execute("SELECT id FROM alerts WHERE substr(id, 1, ?) = ? LIMIT 10", (len(prefix), prefix))
        return [r[0] for r in rows.fetchall()]

    def retry(self, alert_id: str, now: float, target: str | None = None) -> list[str]:
        """Queue the failed or dead deliveries of `alert_id` again (only to
        `target` if given), with the target tried at once; returns the targets."""
        where = "alert_id = ? AND state IN ('failed', 'dead')" + (" AND target = ?" if target else "")
        args = (alert_id, target) if target else (alert_id,)
        try:
            with self._transaction():
                targets = [r[0] for r in self.db.execute(f"SELECT target FROM deliveries WHERE {where}", args)]
                self.db.execute(f"UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt = 0, "
                                f"last_error = NULL, queued = ?, updated = ? WHERE {where}", (now, now, *args))
                self.db.executemany("UPDATE targets SET retry_at = 0 WHERE name = ?", [(t,) for t in targets])
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None
        return targets

    def prune(self, before: float) -> int:
        """Forget alerts queued before `before` that nothing waits for any more."""
        return self._write(
            f"DELETE FROM alerts WHERE created < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
            f"d.alert_id = alerts.id AND d.state IN {_UNDELIVERED_SQL})",
            (before,),
        )

    def health_mark(self, key: str) -> float | None:
        row = self.db.execute("SELECT value FROM health WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_health_mark(self, key: str, value: float | None) -> None:
        if value is None:
            self._write("DELETE FROM health WHERE key = ?", (key,))
        else:
            self._write("INSERT OR REPLACE INTO health (key, value) VALUES (?, ?)", (key, value))

    def _write(self, sql: str, args: tuple) -> int:
        try:
            return self.db.execute(sql, args).rowcount
        except sqlite3.Error as e:
            raise StoreError(f"state store {self.path}: {e}") from None


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        # SQLite may already have rolled back by itself (SQLITE_FULL, IOERR):
        # a second ROLLBACK would raise and hide the real error.
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")
