"""No-root mode end to end, against a temporary $HOME: `authwatch profile
install` notes the logins already recorded (they never alert); a login read
by a real shell starts `authwatch scan --user` in the background, which
alerts through the user's own configuration; a failed delivery makes the scan
exit 1, and the next run sends it, skipping nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.delivery.servers import HttpReceiver

RECORDED = (
    "2026-04-13 16:46:59 +0100 1.2.3.4 alice publickey\n"
    "2026-04-14 09:12:03 +0100 1.2.3.4 alice publickey\n"
    "2026-04-20 22:40:41 +0100 5.6.7.8 alice unknown\n"
)


@pytest.fixture
def receiver():
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    (h / ".profile").write_text("# the user's own\n")
    (h / ".ssh_logins").write_text(RECORDED)
    return h


def env_for(home: Path, **more: str) -> dict[str, str]:
    """What a login has: HOME, a plain PATH, no XDG variables (their defaults apply)."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "USER": "alice", "LANG": "C.UTF-8", "TZ": "UTC"} | more


def authwatch(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "authwatch", *args], env=env_for(home), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def log_in(home: Path, port: int, address: str = "203.0.113.5") -> None:
    """A login shell of an SSH login reads the profile (the lines start the scan in the background)."""
    subprocess.run(["sh", "-c", ". ./.profile"], cwd=home, check=True, timeout=20, stdin=subprocess.DEVNULL,
                   env=env_for(home, SSH_CONNECTION=f"{address} {port} 192.0.2.1 22"))


def configure(home: Path, receiver: HttpReceiver) -> None:
    config = home / ".config" / "authwatch" / "config.yaml"
    # delivery's default retry pause (10 s, doubling) is left as it is: the next run tries again anyway
    config.write_text(f"sources: [profile]\ngeoip: false\ntargets:\n  me: \"json://127.0.0.1:{receiver.port}/\"\n")
    os.chmod(config, 0o600)


def ports(requests) -> list[int]:
    """The client port of each alert received (its message says "IP address : IP (port N)")."""
    return [int(re.search(r"\(port (\d+)\)", r.json()["message"]).group(1)) for r in requests]


def test_seeding_then_each_new_login_alerts_and_a_failed_delivery_is_retried_not_skipped(home, receiver):
    installed = authwatch(home, "profile", "install")
    assert installed.returncode == 0, installed.stderr
    assert f"{home}/.ssh_logins: 3 logins recorded before now; they will not alert" in installed.stdout
    assert f"* * * * * {sys.executable} -m authwatch scan --user" in installed.stdout
    assert "no targets" in installed.stderr
    config = home / ".config" / "authwatch" / "config.yaml"
    assert config.stat().st_mode & 0o777 == 0o600
    assert (home / ".local" / "state" / "authwatch" / "state.db").exists()
    configure(home, receiver)

    log_in(home, 50001)  # the background scan sends it
    assert ports(receiver.wait_for(1, timeout=30)) == [50001]  # the three recorded before stay quiet

    receiver.status = 500  # the target fails for a while
    log_in(home, 50002)
    log_in(home, 50003)
    failed = authwatch(home, "scan", "--user")  # waits for the background ones, then fails too
    assert failed.returncode == 1 and "did not get through" in failed.stderr, (failed.returncode, failed.stderr)
    assert ports(receiver.requests) == [50001]

    receiver.status = 200
    retried = authwatch(home, "scan", "--user")
    assert retried.returncode == 0, retried.stderr
    # all of them (in order, unless delivery set the oldest aside after its tries: see deliver/delivery.py)
    assert sorted(ports(receiver.wait_for(3))) == [50001, 50002, 50003]
    time.sleep(0.5)
    assert len(receiver.requests) == 3  # each once


def test_a_first_scan_without_install_seeds_too(home, receiver):
    (home / ".config" / "authwatch").mkdir(parents=True)
    configure(home, receiver)
    first = authwatch(home, "scan", "--user")
    assert first.returncode == 0, first.stderr
    with open(home / ".ssh_logins", "a") as f:
        f.write("2026-11-22 16:05:59 +0000 198.51.100.7 alice password port=50010\n")
    assert authwatch(home, "scan", "--user").returncode == 0
    assert ports(receiver.wait_for(1)) == [50010]


def tag(request) -> str:
    """What the subject says is unusual about the login ("login": nothing)."""
    return request.json()["title"].rpartition(" — ")[2]


def test_the_logins_recorded_before_install_are_history_not_news(home, receiver):
    assert authwatch(home, "profile", "install").returncode == 0
    configure(home, receiver)
    log_in(home, 50020, "5.6.7.8")  # recorded before install: not alice's "first login"
    (alert,) = receiver.wait_for(1, timeout=30)
    assert tag(alert) == "login"


def test_the_count_is_of_logins_understood_even_after_a_line_that_is_not(home):
    (home / ".ssh_logins").write_text("Sun Nov 22 08:01:12 UTC 2026 1.2.3.4 alice\n" + RECORDED)
    installed = authwatch(home, "profile", "install")
    assert installed.returncode == 0, installed.stderr
    assert f"{home}/.ssh_logins: 3 logins recorded before now; they will not alert, and history knows them " \
           "(1 line not understood, skipped)" in installed.stdout


def test_install_refuses_a_broken_configuration_before_changing_anything(home):
    config = home / ".config" / "authwatch" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("sources: [profile]\ncorrelate_ms: soon\n")
    r = authwatch(home, "profile", "install")
    assert r.returncode == 3 and "correlate_ms" in r.stderr
    assert (home / ".profile").read_text() == "# the user's own\n"
