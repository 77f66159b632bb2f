"""Following the PAM hook's spool: its records are read like log lines, and
the spool is rotated and its consumed part removed, only once the alerts of
its records are in the outbox, so it never grows without bound and nothing
is lost, across restarts too. Then `authwatch run` with both a log and the
spool: one alert per login."""

from __future__ import annotations

import base64
import logging
import os
import time
from datetime import datetime, timezone

import pytest

from authwatch.sources import file as file_source
from authwatch.sources.spool import SpoolSource
from authwatch.store import Position
from tests.running import Running


def line(port: int, user: str = "alice", t: float | None = None) -> str:
    stamp = f"{time.time() if t is None else t:.9f}"
    fields = (stamp, "sshd", user, "198.51.100.7", "ssh", f"198.51.100.7 {port} 192.0.2.1 22", "password\n", "")
    return "aw1 " + base64.b64encode("".join(f + "\0" for f in fields).encode()).decode() + "\n"


def append(path, *lines: str) -> None:
    with open(path, "a") as f:
        f.write("".join(lines))


class Acks:
    """Stands in for the pipeline and the store: the position each batch
    reaches, and the position saved (once the alerts before it are in the
    outbox)."""

    def __init__(self):
        self.read: Position | None = None
        self.saved: Position | None = None

    def __call__(self) -> Position | None:
        return self.saved

    def catch_up(self) -> None:
        """Everything read so far is in the outbox."""
        self.saved = self.read


def ports(source, acks: Acks) -> list[int]:
    out = []
    for batch in source.poll():
        out += [e.port for e in batch.events]
        acks.read = batch.position
    return out


@pytest.fixture(autouse=True)
def quick_grace(monkeypatch):
    monkeypatch.setattr(file_source, "GRACE", 0.2)


def spool_source(path, acks, saved=None, **kw) -> SpoolSource:
    return SpoolSource(str(path), saved, timezone.utc, start_at_end=False, acknowledged=acks, host="web1", **kw)


def test_records_are_read_as_they_come(tmp_path):
    spool, acks = tmp_path / "logins", Acks()
    source = spool_source(spool, acks)
    assert ports(source, acks) == []  # nothing yet: the first login makes the file
    append(spool, line(1), line(2))
    assert ports(source, acks) == [1, 2]
    append(spool, line(3))
    assert ports(source, acks) == [3]
    assert source.watched_dirs() == {str(tmp_path)}


def test_a_quiet_spool_is_rotated_and_removed_once_its_alerts_are_acknowledged(tmp_path):
    spool, acks = tmp_path / "logins", Acks()
    source = spool_source(spool, acks, rotate_after=0)
    assert ports(source, acks) == []
    acks.catch_up()  # "no spool yet" is saved: that must not count as "the rotated spool was read"
    append(spool, line(1))
    assert ports(source, acks) == [1]
    rotated = tmp_path / "logins.1"
    assert rotated.exists() and spool.stat().st_size == 0  # rotated, and a new, empty spool for the next records
    append(rotated, line(2))  # a hook that opened the file just before the rename
    assert ports(source, acks) == [2]
    time.sleep(0.3)  # quiet for GRACE: closed
    assert ports(source, acks) == []
    assert ports(source, acks) == []
    assert rotated.exists()  # its records' alerts are not in the outbox yet
    acks.catch_up()
    assert ports(source, acks) == []
    assert not rotated.exists()
    append(spool, line(3))
    assert ports(source, acks) == [3]


def test_a_busy_spool_is_rotated_by_size(tmp_path):
    spool, acks = tmp_path / "logins", Acks()
    source = spool_source(spool, acks, rotate_bytes=300)
    assert ports(source, acks) == []
    append(spool, line(1))
    assert ports(source, acks) == [1] and spool.stat().st_size
    append(spool, line(2), line(3))
    assert ports(source, acks) == [2, 3]
    assert (tmp_path / "logins.1").exists() and spool.stat().st_size == 0
    append(spool, line(4))
    assert ports(source, acks) == [4]  # the new spool is read meanwhile
    time.sleep(0.3)
    ports(source, acks)
    acks.catch_up()
    ports(source, acks)
    assert not (tmp_path / "logins.1").exists()


def test_a_restart_finishes_the_rotated_spool_then_removes_it(tmp_path):
    spool, acks = tmp_path / "logins", Acks()
    append(spool, line(1))
    source = spool_source(spool, acks, rotate_after=0)
    assert ports(source, acks) == [1]
    acks.catch_up()
    source.close()  # stopped; meanwhile a login lands in the rotated spool, another in the new one
    append(tmp_path / "logins.1", line(2))
    append(spool, line(3))
    again = spool_source(spool, acks, saved=acks.saved, rotate_after=3600)
    assert ports(again, acks) == [2, 3]
    time.sleep(0.3)
    ports(again, acks)
    acks.catch_up()
    ports(again, acks)
    assert not (tmp_path / "logins.1").exists() and spool.stat().st_size


def test_a_spool_that_cannot_be_rotated_is_reported_once(tmp_path, monkeypatch, caplog):
    spool, acks = tmp_path / "logins", Acks()
    source = spool_source(spool, acks, rotate_after=0)

    def refuse(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "rename", refuse)
    assert ports(source, acks) == []
    append(spool, line(1))
    with caplog.at_level(logging.WARNING, "authwatch"):
        assert ports(source, acks) == [1]
        append(spool, line(2))
        assert ports(source, acks) == [2]
    warnings = [r.getMessage() for r in caplog.records if "cannot rotate" in r.getMessage()]
    assert len(warnings) == 1 and "Permission denied" in warnings[0]


def logged(host: str, port: int) -> str:
    now = datetime.now(timezone.utc).isoformat()
    return (f"{now} {host} sshd-session[8129]: Accepted publickey for alice from 198.51.100.7 port {port} ssh2: "
            "ED25519 SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI\n")


def test_run_with_a_log_and_the_spool_sends_one_alert_per_login(tmp_path):
    log, spool = tmp_path / "auth.log", tmp_path / "spool" / "logins"
    spool.parent.mkdir()
    log.write_text("")
    host = os.uname().nodename.split(".")[0]
    with Running(tmp_path, [str(log), f"hook:{spool}"], "geoip: false\n") as run:
        append(log, logged(host, 40001))
        append(spool, line(40001))
        append(spool, line(40002))  # the hook alone saw this one (say, the log lags or is unreadable)
        append(spool, line(40003))
        append(log, logged(host, 40003))
        deadline = time.monotonic() + 3
        while len(run.queued()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # nothing more comes
        alerts = sorted((a.event for a in run.queued()), key=lambda e: e["port"])
    assert [a["port"] for a in alerts] == [40001, 40002, 40003]
    assert [a["ident"] for a in alerts] == ["sshd-session", "pam_exec", "sshd-session"]  # 40002 waited for a log line
    assert [a["key"] is not None for a in alerts] == [True, False, True]
    assert [a["record"]["source"] for a in alerts] == [f"{spool}:{n}" for n in (1, 2, 3)]
