"""The journal source against the lab's real journald (read with journalctl -D
from its private directory, never the host's journal), real sshd and real
logins: alerts arrive with the session type; a line forged with `logger` by an
unprivileged user is a `forged` alert and no login, also when rsyslog's
auth.log, where it looks genuine, is read too; and `authwatch run` killed with
SIGKILL and restarted alerts every entry written meanwhile, once."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from authwatch.store import Store, StoreError
from tests.e2e.test_follow_lab import key_fingerprint
from tests.e2e.test_logrotate import Follower, wait_until
from tests.running import Running

WITHIN = 2.0  # seconds from the client's exit to the alert in the outbox
FORGED = "Accepted password for root from 203.0.113.9 port {port} ssh2"


def new_alerts(run: Running, after: int, want: int = 1, settle: float = 0.3) -> list[dict]:
    """The alerts queued after seq `after`: at least `want` within WITHIN
    seconds, then whatever else comes in `settle` seconds (duplicates)."""
    deadline = time.monotonic() + WITHIN
    while len(run.queued(after)) < want and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(settle)
    return [dict(a.event, seq=a.seq, severity=a.severity) for a in run.queued(after)]


@pytest.fixture(scope="module")
def journal_only(lab, tmp_path_factory):
    with Running(tmp_path_factory.mktemp("journal"), [f"journal:{lab.journal_dir}"]) as run:
        yield run


@pytest.fixture(scope="module")
def journal_and_file(lab, tmp_path_factory):
    with Running(tmp_path_factory.mktemp("both"), [str(lab.auth_log), f"journal:{lab.journal_dir}"]) as run:
        yield run


def last_seq(run: Running) -> int:
    queued = run.queued()
    return queued[-1].seq if queued else 0


def test_logins_arrive_from_the_journal_with_their_session_type(lab, journal_only):
    lab.ssh("bob", "true", password="bob-pw")  # teaches that this sshd logs session lines
    new_alerts(journal_only, last_seq(journal_only))
    seq = last_seq(journal_only)
    lab.ssh("alice", "true")
    [alert] = new_alerts(journal_only, seq)
    assert (alert["kind"], alert["user"], alert["method"], alert["key"], alert["session"]) == (
        "login", "alice", "publickey", key_fingerprint(lab, "alice"), "exec")
    assert alert["source"] == f"journal:{lab.journal_dir}" and alert["ident"] == lab.session_ident
    entry = [e for e in lab.journal(f"_PID={alert['pid']}") if e["MESSAGE"].startswith("Accepted publickey")][0]
    assert alert["time"].endswith(f".{int(entry['__REALTIME_TIMESTAMP']) % 1_000_000:06d}+00:00")
    seq = alert["seq"]
    lab.sftp("alice", "ls")
    [alert] = new_alerts(journal_only, seq)
    assert (alert["user"], alert["session"]) == ("alice", "sftp")


def test_a_forged_line_is_a_forged_alert_and_no_login(lab, journal_only):
    seq = last_seq(journal_only)
    lab.forge("sshd[1]", FORGED.format(port=22))
    [alert] = new_alerts(journal_only, seq)
    assert (alert["kind"], alert["severity"], alert["user"], alert["ip"]) == ("forged", "critical", "root", "203.0.113.9")
    uid = int(lab.in_namespace(["id", "-u", "nobody"]).stdout)
    f = alert["forged"]
    assert (f["uid"], f["claimed_ident"], f["claimed_pid"], f["claimed_kind"]) == (uid, "sshd", 1, "login")
    assert f["pid"] > 1 and f["pid"] != lab.sshd_pid
    # /proc is read by journald after the fact: a logger that exited already leaves them out
    assert f["comm"] in ("logger", None) and f["exe"] in ("/usr/bin/logger", None)
    # the same line in auth.log looks exactly like sshd's
    assert lab.wait_for(lab.auth_log, FORGED.format(port=22)).split(" ", 2)[2].startswith("sshd[1]: ")


def test_a_text_log_read_too_gives_one_alert_per_login_and_exposes_the_forgery(lab, journal_and_file):
    run = journal_and_file
    lab.ssh("bob", "true", password="bob-pw")
    new_alerts(run, last_seq(run))
    for action, kind, user in (
        (lambda: lab.ssh("alice", "true"), "login", "alice"),
        (lambda: lab.ssh("bob", "true", password="bob-pw"), "login", "bob"),
        (lambda: lab.forge("sshd[1]", FORGED.format(port=23)), "forged", "root"),
    ):
        seq = last_seq(run)
        action()
        alerts = new_alerts(run, seq, settle=1.5)  # a text report's hold is 1 s: a duplicate would be here
        assert [(a["kind"], a["user"]) for a in alerts] == [(kind, user)], alerts
        assert alerts[0]["source"] == f"journal:{lab.journal_dir}"  # the journal's report won
        if kind == "login":
            assert alerts[0]["session"] == "exec"


WRITER = r"""
import subprocess, sys, time
ns, first, count, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
logger = subprocess.Popen(["nsenter", "-t", ns, "-m", "-u", "--", "setpriv", "--reuid=nobody", "--regid=nogroup",
                           "--clear-groups", "logger", "-p", "auth.info", "-t", "sshd[1]"],
                          stdin=subprocess.PIPE, text=True)
for port in range(first, first + count):
    logger.stdin.write(f"Accepted password for root from 203.0.113.9 port {port} ssh2\n")
    logger.stdin.flush()
    time.sleep(pause)
logger.stdin.close()
logger.wait()
"""


@pytest.mark.parametrize("sources", ["journal", "journal+file"])
def test_sigkill_and_restart_alert_every_entry_once(lab, tmp_path, sources):
    """Forged entries (each an alert) and real logins are written while
    `authwatch run` is killed at random and restarted."""
    rng = random.Random(sources)
    first = {"journal": 30000, "journal+file": 40000}[sources]
    listed = [f"journal:{lab.journal_dir}"] + ([str(lab.auth_log)] if sources == "journal+file" else [])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: {tmp_path}/state.db\nsources: {listed}\ngeoip: false\n")
    follower = Follower(cfg, tmp_path / "authwatch.out")
    follower.start()
    wait_until(lambda: (tmp_path / "state.db").exists() and queued_events(tmp_path) is not None, "the first start")
    time.sleep(1)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(lab.ns_pid), str(first), "300", "0.015"])
    logins = []
    try:
        while writer.poll() is None or follower.kills < 3:
            r = lab.ssh("alice", "echo", "hi")
            logins.append(r)
            if rng.random() < 0.6 or writer.poll() is not None:
                follower.kill()
                time.sleep(rng.uniform(0, 0.6))  # entries are written while it is dead
                follower.start()
        writer.wait(30)
        ports = set(range(first, first + 300))
        wait_until(lambda: ports <= {e["port"] for e in queued_events(tmp_path) if e["kind"] == "forged"},
                   "every forged entry's alert", timeout=30)
        time.sleep(2)  # anything more would be a duplicate
    finally:
        if writer.poll() is None:
            writer.kill()
        follower.stop()
    events = queued_events(tmp_path)
    forged = [e["port"] for e in events if e["kind"] == "forged"]
    assert sorted(forged) == sorted(ports), "a forged entry was alerted twice or not at all"
    assert [e for e in events if e["kind"] == "login" and e["user"] == "root"] == [], "a forgery passed as a login"
    alice = [e for e in events if e["kind"] == "login" and e["user"] == "alice"]
    assert len(alice) == len(logins) == len({e["port"] for e in alice}), "a login was alerted twice or not at all"
    assert {e["source"] for e in events} == {f"journal:{lab.journal_dir}"}
    assert follower.kills >= 3
    assert "Traceback" not in (tmp_path / "authwatch.out").read_text()


def queued_events(tmp_path) -> list[dict] | None:
    try:
        with Store(str(tmp_path / "state.db")) as s:
            return [a.event for a in s.queued_alerts(limit=1_000_000)]
    except StoreError:  # not made yet
        return None
