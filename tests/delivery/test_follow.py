"""`authwatch run` and `authwatch scan` deliver what they queue: to a real
HTTP receiver on loopback (Apprise json://), and scan exits 1 while
something stays undelivered."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from authwatch.store import Position, Store
from tests.conftest import REPO
from tests.delivery.servers import free_port
from tests.unit.test_file_source import append, login


def setup(tmp_path, port, log_content=None):
    log = tmp_path / "auth.log"
    if log_content is not None:
        log.write_bytes(log_content)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: {tmp_path}/state.db\nsources: [{log}]\ngeoip: false\n"
                   f"targets:\n  hook: json://127.0.0.1:{port}/alerts\ndelivery:\n  rate_limit: 0\n  retry_first: 1s\n")
    cfg.chmod(0o600)  # a target URL may hold a token: readable by others, it is refused
    return log, str(cfg)


def test_scan_delivers_and_says_when_it_could_not(tmp_path, cli, receiver):
    dead_port = free_port()
    log, cfg = setup(tmp_path, dead_port, login(1))
    assert cli("scan", "--config", cfg).code == 0  # first run: at the end, nothing to send
    append(log, login(2))
    r = cli("scan", "--config", cfg)
    assert r.code == 1
    assert "1 delivery did not get through; it stays queued for the next run" in r.err
    setup(tmp_path, receiver.port)  # the receiver is up now (same log, same state)
    time.sleep(1.1)  # retry_first: the failed alert is due again
    append(log, login(3))
    r = cli("scan", "--config", cfg)
    assert (r.code, r.err) == (0, "")
    got = sorted(req.json()["message"].count("port 2") + 10 * req.json()["message"].count("port 3")
                 for req in receiver.wait_for(2))
    assert got == [1, 10]  # the alert left over from the failed run, and the new one, once each


def test_a_scan_that_gives_alerts_up_as_dead_exits_1_and_says_so(tmp_path, cli):
    log, cfg = setup(tmp_path, free_port(), login(1))
    assert cli("scan", "--config", cfg).code == 0
    append(log, login(2))
    assert cli("scan", "--config", cfg).code == 1  # undelivered: stays queued
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE deliveries SET queued = queued - 4 * 86400")  # older than dead_after (3 days)
    db.close()
    r = cli("scan", "--config", cfg)
    assert r.code == 1
    assert r.err.splitlines()[-1] == (
        "authwatch: error: 1 delivery was given up in this run and marked dead (undelivered for longer than "
        "delivery.dead_after, or for a target no longer configured); 'authwatch outbox' lists them, "
        "'authwatch outbox --retry ID' queues one again")
    r = cli("scan", "--config", cfg)
    assert (r.code, r.err) == (0, "")  # given up once: the next run is fine


def test_run_delivers_within_a_second_and_stops_cleanly(tmp_path, receiver):
    log, cfg = setup(tmp_path, receiver.port, b"")
    proc = subprocess.Popen([sys.executable, "-m", "authwatch", "run", "--config", cfg], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(tmp_path / "state.db") or Store(str(tmp_path / "state.db")).position(str(log)) is None:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        start = time.time()
        append(log, login(7))
        (request,) = receiver.wait_for(1, timeout=5)
        assert request.received - start < 1.0
        assert "alice" in request.json()["message"] and "198.51.100.7" in request.json()["message"]
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=15)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped; positions saved" in err


def test_a_configuration_others_may_read_with_secrets_in_it_is_refused(tmp_path, cli):
    log, cfg = setup(tmp_path, free_port(), b"")
    os.chmod(cfg, 0o644)
    for command in ("run", "scan"):
        r = cli(command, "--config", cfg)
        assert r.code == 4
        assert r.err == (f"authwatch: error: {cfg}: holds secrets (targets.hook: its path, which may be a token) and is readable by group and "
                         f"others (mode 0644): run 'chmod 600 {cfg}', or take the secrets from the environment with "
                         "${NAME}; authwatch refuses to start with it (--insecure-config starts it anyway)\n")
    r = cli("scan", "--insecure-config", "--config", cfg)
    assert r.code == 0 and "(started anyway: --insecure-config)" in r.err


def test_source_silent_after_looks_only_at_the_log_sources_configured_now(tmp_path, cli, receiver):
    """A source dropped from `sources:` keeps its row in the store, and the PAM
    hook's spool and ~/.ssh_logins grow only with logins: none of them is
    reported as silent; a log still followed is, once, though each scan saves
    its (unmoved) position again."""
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(login(1))
    b.write_bytes(login(2))
    (tmp_path / "spool").mkdir(mode=0o700)
    spool, profile = tmp_path / "spool" / "logins", tmp_path / "ssh_logins"
    cfg = tmp_path / "config.yaml"

    def configure(sources):
        cfg.write_text(f"state: {tmp_path}/state.db\nsources: [{', '.join(sources)}]\ngeoip: false\n"
                       f"targets:\n  hook: json://127.0.0.1:{receiver.port}/alerts\n"
                       "delivery:\n  rate_limit: 0\n  source_silent_after: 1m\n")
        cfg.chmod(0o600)

    configure([str(a), str(b)])
    assert cli("scan", "--config", str(cfg)).code == 0
    configure([str(a), f"hook:{spool}", f"profile:{profile}"])
    with Store(str(tmp_path / "state.db")) as store:
        store.enqueue([], [Position(str(spool)), Position(str(profile))])
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE positions SET updated = updated - 3600")  # every source silent for an hour
    db.close()
    r = cli("scan", "--config", str(cfg))
    assert (r.code, r.err) == (0, "")
    (request,) = receiver.wait_for(1)
    assert f"no new lines in {a} for 1 h" in request.json()["message"]
    assert cli("scan", "--config", str(cfg)).code == 0  # told once per silence
    time.sleep(0.5)
    assert len(receiver.requests) == 1


def test_an_alert_raised_with_no_target_is_kept_and_not_sent_to_a_target_added_later(tmp_path, cli, receiver):
    log, cfg = setup(tmp_path, receiver.port, login(1))
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"state: {tmp_path}/state.db\nsources: [{log}]\ngeoip: false\n")
    assert cli("scan", "--config", str(bare)).code == 0
    append(log, login(2))
    r = cli("scan", "--verbose", "--config", str(bare))
    assert r.code == 0 and "alert kept (no target configured): login alice@web1 from 198.51.100.7 port 2," in r.err
    out = cli("outbox", "--config", str(bare)).out.splitlines()
    assert out[:2] == ["no targets are configured.",
                       "1 alert was kept without a target: an alert goes to the targets configured when it is "
                       "raised, so a target added later gets only the alerts raised after it."]
    append(log, login(3))
    r = cli("scan", "--verbose", "--config", cfg)  # the target is configured now
    assert r.code == 0 and "alert queued: login alice@web1 from 198.51.100.7 port 3," in r.err
    (request,) = receiver.wait_for(1)
    assert "port 3" in request.json()["message"]
    assert receiver.wait_for(2, timeout=0.5) == [request]  # the alert kept before is not sent
    assert "1 alert was kept without a target" in cli("outbox", "--config", cfg).out
