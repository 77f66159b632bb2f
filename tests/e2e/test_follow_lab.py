"""Real sshd (LogLevel VERBOSE) and rsyslog on loopback, real ssh, scp and
sftp: `authwatch run` queues the expected alert within 2 seconds, with the
right user, method, key fingerprint and session type, in each of the three
layouts rsyslog writes (RFC 3339, classic, RFC 5424), and through a rotation
of the logs (rename, rsyslog reopens on SIGHUP)."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.running import Running

WITHIN = 2.0  # seconds from the client's exit to the alert in the outbox
LAYOUTS = ("auth_log", "auth_log_classic", "auth_log_5424")


class Followers:
    """One `authwatch run` per layout (each its own state), all at once."""

    def __init__(self, lab, tmp_path_factory):
        self.lab = lab
        self.runs = {}
        for layout in LAYOUTS:
            path = getattr(lab, layout)
            self.runs[layout] = Running(tmp_path_factory.mktemp(layout), [str(path)]).__enter__()
        self.seen = {layout: 0 for layout in LAYOUTS}

    def stop(self):
        for run in self.runs.values():
            run.stop()

    def alerts_after(self, action) -> dict[str, dict]:
        """Run `action` (a client); return, per layout, the one alert it
        produced, having waited at most WITHIN seconds after it returned."""
        action()
        done = time.monotonic()
        out = {}
        for layout, run in self.runs.items():
            while True:
                new = run.queued(self.seen[layout])
                if new or time.monotonic() - done > WITHIN:
                    break
                time.sleep(0.01)
            assert new, f"{layout}: no alert within {WITHIN} s"
            assert new[0].created - time.time() < 0  # (sanity: a real insert time)
            time.sleep(0.2)  # anything more would be a duplicate
            new = run.queued(self.seen[layout])
            assert len(new) == 1, f"{layout}: {len(new)} alerts for one login: {[a.event for a in new]}"
            self.seen[layout] = new[-1].seq
            out[layout] = new[0].event
        return out


@pytest.fixture(scope="module")
def followers(lab, tmp_path_factory):
    f = Followers(lab, tmp_path_factory)
    try:  # a failed first login must not leave the followers running (pytest would wait for them at exit)
        # The first login teaches authwatch that this sshd logs session lines
        # (LogLevel VERBOSE); from then on logins wait (correlate_ms) for theirs.
        f.alerts_after(lambda: lab.ssh("bob", "true", password="bob-pw"))
        yield f
    finally:
        f.stop()


def key_fingerprint(lab, user: str) -> str:
    r = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{lab.users[user].key}.pub"],
                       capture_output=True, text=True, check=True)
    return r.stdout.split()[1]  # "256 SHA256:... alice@lab (ED25519)"


def check(alerts: dict[str, dict], **expected) -> None:
    for layout, event in alerts.items():
        got = {k: event[k] for k in expected}
        assert got == expected, f"{layout}: {got}"
        assert event["kind"] == "login" and event["ip"] == "127.0.0.1" and event["host"]


def test_ssh_command_with_a_key(lab, followers):
    alerts = followers.alerts_after(lambda: lab.ssh("alice", "true"))
    check(alerts, user="alice", method="publickey", key=key_fingerprint(lab, "alice"), key_type="ED25519",
          session="exec")


def test_ssh_shell(lab, followers):
    alerts = followers.alerts_after(lambda: lab.ssh("alice", tty=True))
    check(alerts, user="alice", method="publickey", session="shell")
    assert all(e["tty"].startswith("pts/") for e in alerts.values())


def test_scp_legacy_protocol(lab, followers, tmp_path):
    (tmp_path / "up.txt").write_text("hello\n")
    alerts = followers.alerts_after(lambda: lab.scp("alice", tmp_path / "up.txt", ":up-legacy.txt", legacy=True))
    check(alerts, user="alice", method="publickey", key=key_fingerprint(lab, "alice"), session="exec")


def test_scp_default_protocol_is_sftp(lab, followers, tmp_path):
    (tmp_path / "up.txt").write_text("hello\n")
    alerts = followers.alerts_after(lambda: lab.scp("alice", tmp_path / "up.txt", ":up-sftp.txt"))
    check(alerts, user="alice", method="publickey", session="sftp")


def test_sftp(lab, followers):
    alerts = followers.alerts_after(lambda: lab.sftp("alice", "ls"))
    check(alerts, user="alice", method="publickey", session="sftp")


def test_password_login(lab, followers):
    alerts = followers.alerts_after(lambda: lab.ssh("bob", "true", password="bob-pw"))
    check(alerts, user="bob", method="password", key=None, session="exec")


def test_a_failed_login_queues_nothing_and_the_next_login_comes_through(lab, followers):
    lab.failed_login("alice")
    lab.wait_for(lab.auth_log, "Failed password for alice")
    alerts = followers.alerts_after(lambda: lab.ssh("carol", "true"))  # only carol's login is new
    check(alerts, user="carol", method="publickey", key=key_fingerprint(lab, "carol"))


def test_a_rotation_by_rename_loses_nothing(lab, followers):
    def rotate_then_login():
        lab.rotate()  # mv auth*.log auth*.log.1; rsyslogd reopens on SIGHUP
        lab.ssh("alice", "true")

    alerts = followers.alerts_after(rotate_then_login)
    check(alerts, user="alice", method="publickey", session="exec")
    for layout, event in alerts.items():
        assert event["source"].startswith(f"{getattr(lab, layout)}:"), event["source"]  # the new file
