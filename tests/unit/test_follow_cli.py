"""`authwatch scan` and `authwatch run` through the command line: first
start, quiet cron runs, overlapping runs, signals."""

import os
import signal
import subprocess
import sys
import time

from authwatch.statelock import StateLock
from authwatch.store import Store
from tests.conftest import REPO
from tests.unit.test_file_source import append, login


def setup(tmp_path, log_content=b""):
    log = tmp_path / "auth.log"
    log.write_bytes(log_content)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: {tmp_path}/state.db\nsources: [{log}]\n")
    return log, str(cfg)


def queued(tmp_path):
    with Store(str(tmp_path / "state.db")) as s:
        return [a.event["port"] for a in s.queued_alerts()]


def test_the_first_scan_starts_at_the_end_and_later_ones_queue_what_is_new(tmp_path, cli):
    log, cfg = setup(tmp_path, login(1) + login(2))
    r = cli("scan", "--config", cfg)
    assert (r.code, r.out, r.err) == (0, "", "")  # cron mails any output: a good run prints nothing
    assert queued(tmp_path) == []
    append(log, login(3) + login(4))
    assert cli("scan", "--config", cfg).code == 0
    assert queued(tmp_path) == [3, 4]
    assert cli("scan", "--config", cfg).code == 0
    assert queued(tmp_path) == [3, 4]  # nothing twice


def test_scan_from_start_reads_the_existing_log(tmp_path, cli):
    log, cfg = setup(tmp_path, login(1) + login(2))
    r = cli("scan", "--from-start", "--verbose", "--config", cfg)
    assert r.code == 0
    assert queued(tmp_path) == [1, 2]
    assert f"alert kept (no target configured): login alice@web1 from 198.51.100.7 port 1, password, session unknown ({log}:1)" in r.err


def test_alert_queued_is_said_only_of_alerts_new_to_the_outbox(tmp_path, cli):
    """A line read again (after a crash, the position not saved) queues
    nothing new, and says nothing."""
    log, cfg = setup(tmp_path, login(1))
    assert "port 1," in cli("scan", "--from-start", "--verbose", "--config", cfg).err
    with Store(str(tmp_path / "state.db")) as store:  # as if the crash came before the position was saved
        store.db.execute("DELETE FROM positions")
        store.db.commit()
    append(log, login(2))
    again = cli("scan", "--from-start", "--verbose", "--config", cfg)
    assert again.code == 0 and queued(tmp_path) == [1, 2]
    assert "port 2," in again.err and "port 1," not in again.err


def test_a_scan_while_another_follows_leaves_quietly(tmp_path, cli):
    log, cfg = setup(tmp_path, login(1))
    lock = StateLock(str(tmp_path / "state.db"))
    assert lock.acquire()
    try:
        r = cli("scan", "--from-start", "--config", cfg)
        assert (r.code, r.out, r.err) == (0, "", "")
        r = cli("run", "--config", cfg)
        assert r.code == 1
        assert r.err == (f"authwatch: error: another authwatch (pid {os.getpid()}) is already following with the "
                         f"state database {tmp_path}/state.db\n")
    finally:
        lock.release()
    assert not os.path.exists(tmp_path / "state.db")  # neither touched the store


def test_scan_reports_a_missing_file_and_an_invalid_configuration(tmp_path, cli):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: {tmp_path}/state.db\nsources: [{tmp_path}/nope.log]\n")
    r = cli("scan", "--config", str(cfg))
    assert (r.code, r.err) == (0, f"authwatch: warning: {tmp_path}/nope.log: no such file; waiting for it to appear\n")
    cfg.write_text("sources: [relative.log]\npoll_interval: -1\n")
    r = cli("scan", "--config", str(cfg))
    assert r.code == 3
    assert r.err.splitlines() == [
        f"authwatch: error: {cfg}:1:11: sources[0]: expected an absolute path (or auto, journal, journal:DIR), got 'relative.log'",
        f"authwatch: error: {cfg}:2:16: poll_interval: expected seconds from 0.1 to 3600, got -1",
    ]


def _start_run(cfg, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "authwatch", "run", "--config", cfg], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(tmp_path / "state.db.lock") or not os.path.exists(tmp_path / "state.db"):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.3)  # the store is open; give the loop a moment to start watching
    return proc


def wait_queued(tmp_path, ports, timeout=5):
    deadline = time.monotonic() + timeout
    while queued(tmp_path) != ports:
        assert time.monotonic() < deadline, queued(tmp_path)
        time.sleep(0.02)


def test_run_stops_cleanly_on_sigterm_and_reloads_on_sighup(tmp_path):
    log, cfg = setup(tmp_path, login(1))
    proc = _start_run(cfg, tmp_path)
    try:
        append(log, login(2))
        wait_queued(tmp_path, [2])
        with open(cfg, "a") as f:
            f.write("correlate_ms: [not, a, number]\n")
        proc.send_signal(signal.SIGHUP)
        append(log, login(3))
        wait_queued(tmp_path, [2, 3])
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == ""
    assert "authwatch: error: configuration not reloaded: " in err
    assert "authwatch: error: keeping the configuration in use" in err
    with Store(str(tmp_path / "state.db")) as s:
        p = s.position(str(log))
    assert (p.offset, p.line) == (os.path.getsize(log), 4)
