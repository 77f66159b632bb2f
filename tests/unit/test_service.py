"""The follower as a service: inotify wake-ups, held logins, reload, the
lock, a failing store; real files, real watchdog, a real SQLite store."""

import logging
import time

import pytest

from authwatch.service import Busy, Service
from authwatch.sources import configured
from authwatch.store import Store
from tests import journals
from tests.running import Running
from tests.unit.test_file_source import append, login


def test_a_login_reaches_the_outbox_in_well_under_a_second(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1))
    with Running(tmp_path, [str(log)]) as r:
        time.sleep(0.2)
        start = time.monotonic()
        append(log, login(2))
        arrived = r.wait_for([2])  # the history (port 1) was not alerted: first start is at the end
    assert arrived - start < 1.0  # poll_interval is 60 s: only inotify can have woken it


def test_stop_saves_the_position_and_a_restart_misses_nothing(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    with Running(tmp_path, [str(log)]) as r:
        append(log, login(1))
        r.wait_for([1])
    append(log, login(2) + login(3))  # while stopped
    with Running(tmp_path, [str(log)]) as r:
        r.wait_for([1, 2, 3])
        with r.store() as s:
            assert s.position(str(log)).line == 4


def test_a_file_missing_at_start_is_followed_from_its_start_when_it_appears(tmp_path, caplog):
    log = tmp_path / "later.log"
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, [str(log)]) as r:
        time.sleep(0.1)
        log.write_bytes(login(1) + login(2))
        r.wait_for([1, 2])
    assert f"{log}: no such file; waiting for it to appear" in caplog.text


def test_glob_sources_pick_up_new_files(tmp_path):
    (tmp_path / "a.log").write_bytes(login(1))
    with Running(tmp_path, [f"{tmp_path}/*.log"]) as r:
        time.sleep(0.1)
        (tmp_path / "b.log").write_bytes(login(2))
        (tmp_path / "b.log.1").write_bytes(login(3))  # a rotated sibling, not a source
        r.wait_for([2])
        append(tmp_path / "a.log", login(4))
        r.wait_for([2, 4])


def test_auto_reads_the_journal_when_neither_system_log_exists(tmp_path, monkeypatch, caplog):
    journals.need()
    candidates = (str(tmp_path / "auth.log"), str(tmp_path / "secure"))
    monkeypatch.setattr(configured, "AUTO", candidates)
    monkeypatch.setattr(configured, "SYSTEM_JOURNAL", configured.Journal("journal", str(tmp_path / "j")))
    monkeypatch.setattr(configured, "JOURNAL_DIRS", (str(tmp_path / "j"),))
    journals.write(tmp_path / "j", [journal_login(1)])  # history
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, ["auto"]) as r:
        journals.write(tmp_path / "j", [journal_login(2)])
        r.wait_for([2])
        (tmp_path / "secure").write_bytes(login(3))  # appears later: read too (the journal stays)
        r.wait_for([2, 3])
    assert caplog.text.count("neither") == 1 and "reading the systemd journal" in caplog.text


def test_auto_with_no_system_log_and_no_journal_files_says_it_has_nothing_to_read(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(configured, "AUTO", (str(tmp_path / "auth.log"), str(tmp_path / "secure")))
    monkeypatch.setattr(configured, "SYSTEM_JOURNAL", configured.Journal("journal", str(tmp_path / "j")))
    monkeypatch.setattr(configured, "JOURNAL_DIRS", (str(tmp_path / "j"), str(tmp_path / "run-j")))
    (tmp_path / "j").mkdir()
    with caplog.at_level(logging.WARNING, "authwatch"), Running(tmp_path, ["auto"]):
        time.sleep(0.2)
    assert "there is nothing to read until one appears" in caplog.text


def test_auto_reads_the_system_logs_that_exist_and_not_the_journal(tmp_path, monkeypatch):
    candidates = (str(tmp_path / "auth.log"), str(tmp_path / "secure"))
    monkeypatch.setattr(configured, "AUTO", candidates)
    (tmp_path / "auth.log").write_bytes(b"")
    assert configured.resolve(["auto"]).journals == []
    assert configured.resolve(["auto"], auto_journal=True).journals == [configured.SYSTEM_JOURNAL]
    (tmp_path / "auth.log").unlink()  # e.g. between logrotate's rename and create: no switch
    assert configured.resolve(["auto"], auto_journal=False).journals == []
    assert configured.resolve(["auto"]).journals == [configured.SYSTEM_JOURNAL]


def journal_login(port: int) -> dict:
    return journals.sshd(f"Accepted password for alice from 198.51.100.7 port {port} ssh2",
                         1795363200_000000 + port, pid=port)


def test_sighup_reload_keeps_the_last_good_configuration(tmp_path, caplog):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"")
    b.write_bytes(login(1))
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, [str(a)]) as r:
        (tmp_path / "config.yaml").write_text(f"state: {tmp_path}/state.db\nsources: [{a}]\ncorrelate_ms: soon\n")
        r.service.request_reload()
        time.sleep(0.2)
        append(a, login(2))
        r.wait_for([2])  # still following
        (tmp_path / "config.yaml").write_text(f"state: {tmp_path}/state.db\nsources: [{a}, {b}]\n")
        r.service.request_reload()
        time.sleep(0.2)
        append(b, login(3))  # b is new to authwatch: followed from its end, as at a first start
        r.wait_for([2, 3])
    assert "configuration not reloaded: " in caplog.text and "correlate_ms: expected milliseconds" in caplog.text
    assert "configuration reloaded from" in caplog.text


def test_a_login_on_a_host_that_logs_sessions_waits_for_its_session_line(tmp_path):
    log = tmp_path / "auth.log"
    earlier = ("2026-11-22T14:00:00.000000+00:00 web1 sshd[50]: Starting session: shell on pts/0 "
               "for alice from 198.51.100.7 port 40000 id 0\n")
    log.write_bytes(earlier.encode())  # context read at start: this host logs session lines
    with Running(tmp_path, [str(log)], "correlate_ms: 2000\n") as r:
        time.sleep(0.1)
        append(log, login(5))
        time.sleep(0.3)
        assert r.ports() == []  # held
        with Store(r.settings.state) as s:
            assert s.position(str(log)).line == 2  # not past the held login
        append(log, b"2026-11-22T15:00:00.100000+00:00 web1 sshd[6]: Starting session: command for alice "
                    b"from 198.51.100.7 port 5 id 0\n")
        r.wait_for([5], timeout=1.0)
        with r.store() as s:
            assert s.queued_alerts()[0].event["session"] == "exec"


def test_one_follower_per_state_database(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    with Running(tmp_path, [str(log)]) as r:
        with pytest.raises(Busy, match="already following"):
            Service(r.settings).__enter__()
        scan = Service(r.settings, scan=True)
        assert scan.open() is False
        scan.close()


def test_a_failing_store_pauses_reading_and_loses_nothing(tmp_path, caplog):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, [str(log)]) as r:
        append(log, login(1))
        r.wait_for([1])
        db = r.service.store.db
        db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")
        for port in range(1000, 1400):  # the disk fills up
            append(log, login(port))
        deadline = time.monotonic() + 5
        while "database or disk is full" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        append(log, login(2))
        time.sleep(0.3)
        db.execute("PRAGMA max_page_count=1000000")  # room again
        r.wait_for([1, *range(1000, 1400), 2], timeout=5)
    assert caplog.text.count("database or disk is full") == 1
    assert "writing works again" in caplog.text


def test_a_reload_refuses_a_configuration_others_may_read_with_its_secrets(tmp_path, caplog):
    """The same check as at the start: SIGHUP is not a way around it."""
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"")
    b.write_bytes(b"")
    config = tmp_path / "config.yaml"
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, [str(a)]) as r:
        config.write_text(f"state: {tmp_path}/state.db\nsources: [{a}, {b}]\n"
                          "targets:\n  hook: 'json://u:Hunter2SECRET@127.0.0.1:9/x'\n")
        config.chmod(0o644)
        r.service.request_reload()
        time.sleep(0.3)
        append(b, login(7))
        append(a, login(8))
        r.wait_for([8])
        time.sleep(0.2)
        assert 7 not in r.ports()  # b.log was never added: the old configuration is in use
    assert "configuration not reloaded: " in caplog.text and "readable by group and others" in caplog.text
    assert "Hunter2SECRET" not in caplog.text


class Recorder:
    """An attached component that notes what it is told."""

    def __init__(self):
        self.told: list[frozenset[str]] = []

    def start(self):
        pass

    def wake(self):
        pass

    def stop(self, timeout):
        pass

    def following(self, sources):
        self.told.append(sources)


def test_attached_components_learn_the_log_sources_followed_now(tmp_path):
    """What `source_silent_after` looks at: the log files (and journals) in
    `sources:` now, not the hook's spool or ~/.ssh_logins, and not a source
    dropped by a reload."""
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"")
    b.write_bytes(b"")
    (tmp_path / "spool").mkdir()
    hooks = f"hook:{tmp_path}/spool/logins, profile:{tmp_path}/ssh_logins"
    r, recorder = Running(tmp_path, f"[{a}, {b}, {hooks}]"), Recorder()
    r.service.open()
    r.service.attach(recorder)
    r.thread.start()
    try:
        assert recorder.told == [{str(a), str(b)}]
        (tmp_path / "config.yaml").write_text(f"state: {tmp_path}/state.db\nsources: [{a}, {hooks}]\n")
        r.service.request_reload()
        deadline = time.monotonic() + 3
        while len(recorder.told) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.told == [{str(a), str(b)}, {str(a)}]
    finally:
        r.stop()
