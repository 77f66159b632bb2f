"""The PAM hook in the shared lab: the pam_exec line bound over the real
/etc/pam.d/sshd (above its session lines), a real sshd at LogLevel VERBOSE,
real ssh, scp and sftp. Each login adds one record to the spool and makes ONE
alert in `authwatch run` following the log and the spool (although the log
reports it too), and ONE where the journal, carrying the same lines again,
is followed as well: with the log's session type and the hook's record. A
follower of the spool alone alerts with the key the hook read. A broken hook
(unexecutable, no spool directory) never stops a login."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time

import pytest

from tests.e2e.lab import Lab
from tests.hooks.spool import HOOK, OWNER, owner
from tests.running import Running

WITHIN = 3.0  # seconds from the client's exit to the alert
SPOOL_DIR = "authwatch-spool"  # under the lab's /home, which every account can reach


def pam_line(hook, *options: str) -> str:
    return f"session optional pam_exec.so quiet {' '.join(options)} type=open_session {hook} " \
           f"/home/{SPOOL_DIR}/logins {owner()}"


class Hooked:
    """The lab with the hook installed, and three followers: the log and the
    spool; the log, the systemd journal (which carries the same lines) and
    the spool; and the spool alone."""

    def __init__(self, lab: Lab, tmp_path_factory):
        self.lab = lab
        self.spool_dir = lab.dir / "home" / SPOOL_DIR
        self.spool = self.spool_dir / "logins"
        self.make_spool_dir()
        self.hook = lab.dir / "pam-hook"
        shutil.copy(HOOK, self.hook)
        lab.set_pam_lines([pam_line(self.hook)], before_sessions=True)
        self.both = Running(tmp_path_factory.mktemp("both"), [str(lab.auth_log), f"hook:{self.spool}"],
                            "geoip: false\n").__enter__()
        self.all = Running(tmp_path_factory.mktemp("all"), [str(lab.auth_log), f"journal:{lab.journal_dir}",
                                                           f"hook:{self.spool}"], "geoip: false\n").__enter__()
        # Its safety poll finds the spool again after its directory was removed and made again (inotify
        # watched the old directory), as the service's default of 5 s does.
        self.alone = Running(tmp_path_factory.mktemp("hook-alone"), [f"hook:{self.spool}"], "geoip: false\n",
                             poll_interval=1).__enter__()
        self.runs = {"both": self.both, "all": self.all, "alone": self.alone}
        self.seen = dict.fromkeys(self.runs, 0)

    def make_spool_dir(self) -> None:
        self.spool_dir.mkdir(exist_ok=True)
        pw = pwd.getpwnam(OWNER)
        os.chown(self.spool_dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.spool_dir, 0o700)

    def close(self) -> None:
        for run in self.runs.values():
            run.stop()
        self.lab.set_pam_lines([])
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def records(self) -> int:
        return self.spool.read_text().count("\n") if self.spool.exists() else 0

    def catch_up(self) -> None:
        """Let the alerts of logins made meanwhile go by."""
        time.sleep(WITHIN)
        for name, run in self.runs.items():
            new = run.queued(self.seen[name])
            self.seen[name] = new[-1].seq if new else self.seen[name]

    def alerts_after(self, action, hooked: bool = True) -> dict[str, dict | None]:
        """Run a client; return the one alert of each follower (None for the
        spool's follower if the hook did not run), having checked that the
        login added one record (or none) and that no second alert follows."""
        records = self.records()
        action()
        for name, run in self.runs.items():
            deadline = time.monotonic() + WITHIN
            while (hooked or name != "alone") and not run.queued(self.seen[name]) and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.5)  # a second report of the login would be here by now
        assert self.records() == records + hooked, "one record per login, none when the hook did not run"
        alerts = {}
        for name, run in self.runs.items():
            new = run.queued(self.seen[name])
            assert len(new) == (1 if hooked or name != "alone" else 0), \
                f"{name}: {len(new)} alerts for one login: {[a.event for a in new]}"
            self.seen[name] = new[-1].seq if new else self.seen[name]
            alerts[name] = new[0].event if new else None
        return alerts


@pytest.fixture(scope="module")
def hooked(lab, tmp_path_factory):
    h = Hooked(lab, tmp_path_factory)
    try:  # a failed first login must not leave the followers running (pytest would wait for them at exit)
        # The first login teaches the followers that this sshd logs session lines.
        h.alerts_after(lambda: lab.ssh("bob", "true", password="bob-pw"))
        yield h
    finally:
        h.close()


def fingerprint(lab: Lab, user: str) -> str:
    r = subprocess.run(["ssh-keygen", "-l", "-f", f"{lab.users[user].key}.pub"], capture_output=True, text=True,
                       check=True)
    return r.stdout.split()[1]


def check(lab: Lab, alerts: dict[str, dict], user: str, session: str, key: bool = True) -> None:
    fp = fingerprint(lab, user) if key else None
    both, everything, alone = alerts["both"], alerts["all"], alerts["alone"]
    for alert in (both, everything):
        assert (alert["user"], alert["ip"], alert["port"], alert["key"], alert["session"], alert["ident"]) == \
            (user, "127.0.0.1", alone["port"], fp, session, lab.session_ident)
        assert alert["record"]["source"].startswith(f"{lab.dir}/home/")
        assert alert["record"]["tty"] == "ssh"  # PAM_TTY is "ssh" whatever the session: PAM cannot tell them apart
    assert both["source"].startswith(f"{lab.auth_log}:")
    assert everything["source"] == f"journal:{lab.journal_dir}"  # the journal's report of the line wins
    assert (alone["user"], alone["key"], alone["ident"], alone["session"]) == \
        (user, fp, "pam_exec", "unknown")  # the hook alone: the key read from SSH_AUTH_INFO_0


def test_ssh_command(lab, hooked):
    alerts = hooked.alerts_after(lambda: lab.ssh("alice", "true"))
    check(lab, alerts, "alice", "exec")
    assert alerts["alone"]["key_type"] == alerts["both"]["key_type"] == "ED25519"


def test_ssh_shell(lab, hooked):
    check(lab, hooked.alerts_after(lambda: lab.ssh("alice", tty=True)), "alice", "shell")


def test_scp_legacy_protocol(lab, hooked, tmp_path):
    (tmp_path / "up.txt").write_text("hello\n")
    alerts = hooked.alerts_after(lambda: lab.scp("alice", tmp_path / "up.txt", ":up-hook-legacy.txt", legacy=True))
    check(lab, alerts, "alice", "exec")


def test_scp(lab, hooked, tmp_path):
    (tmp_path / "up.txt").write_text("hello\n")
    check(lab, hooked.alerts_after(lambda: lab.scp("alice", tmp_path / "up.txt", ":up-hook.txt")), "alice", "sftp")


def test_sftp(lab, hooked):
    check(lab, hooked.alerts_after(lambda: lab.sftp("alice", "ls")), "alice", "sftp")


def test_password_login(lab, hooked):
    alerts = hooked.alerts_after(lambda: lab.ssh("bob", "true", password="bob-pw"))
    check(lab, alerts, "bob", "exec", key=False)
    assert {a["method"] for a in alerts.values()} == {"password"}


def test_login_still_works_with_the_hook_unexecutable(lab, hooked):
    os.chmod(hooked.hook, 0)
    try:
        alerts = hooked.alerts_after(lambda: _still_in(lab, "with the hook chmod 000 (the safety valve)"), hooked=False)
    finally:
        os.chmod(hooked.hook, 0o755)
    for name in ("both", "all"):  # the log alone still reports it
        assert alerts[name]["record"] is None and alerts[name]["session"] == "exec"


def test_login_still_works_with_the_spool_directory_removed(lab, hooked):
    shutil.rmtree(hooked.spool_dir)
    try:
        alerts = hooked.alerts_after(lambda: _still_in(lab, "with the spool directory gone"), hooked=False)
        assert not hooked.spool_dir.exists() and alerts["both"]["record"] is None
    finally:
        hooked.make_spool_dir()
    check(lab, hooked.alerts_after(lambda: lab.ssh("alice", "true")), "alice", "exec")  # recorded again


def _still_in(lab: Lab, how: str) -> None:
    r = lab.ssh("alice", "echo", "still-in", check=False)
    assert r.returncode == 0 and r.stdout == "still-in\n", f"login must still work {how}; it did not: {r.stderr}"


def test_the_hooks_place_keeps_the_users_pam_environment_away_from_it(lab, hooked, tmp_path):
    """Debian's sshd stack reads ~/.pam_environment (pam_env user_readenv=1): a
    user's LD_PRELOAD reaches any pam_exec program placed after it, which runs
    as root. Above the session lines, it never does."""
    alice = lab.users["alice"]
    env_file = alice.home / ".pam_environment"
    env_file.write_text("LD_PRELOAD=/nonexistent/authwatch-test-preload.so\n")
    os.chown(env_file, alice.uid, alice.gid)
    seen = tmp_path / "pam-exec.log"  # pam_exec writes the program's output (and the loader's complaints) here
    try:
        lab.set_pam_lines([pam_line(hooked.hook, f"log={seen}")], before_sessions=False)
        lab.ssh("alice", "true")
        assert "authwatch-test-preload.so" in _wait_text(seen), "placed after pam_env, the user's LD_PRELOAD gets in"
        seen.unlink()
        lab.set_pam_lines([pam_line(hooked.hook, f"log={seen}")], before_sessions=True)
        lab.ssh("alice", "true")
        assert "authwatch-test-preload.so" not in _wait_text(seen)
    finally:
        env_file.unlink()
        lab.set_pam_lines([pam_line(hooked.hook)], before_sessions=True)
        hooked.catch_up()


def _wait_text(path, timeout: float = 2.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.read_text() if path.exists() else ""
