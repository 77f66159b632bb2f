"""Real logrotate, a writer appending logins, and `authwatch run` killed with
SIGKILL at random moments and restarted: every login that reached a file
gives exactly one outbox entry.

Each mode runs for a few seconds: a writer process appends login and noise
lines (reopening its file on SIGHUP, as rsyslog does after postrotate),
logrotate -f rotates every few tenths of a second, and the follower is
killed and restarted at random. At the end every file (rotated, compressed,
live) is read back: the logins found there must all be in the outbox, once,
and the outbox must hold nothing that was not written.

Where logrotate itself loses lines (the writer's lines between copy and
truncate in copytruncate mode; lines written to the old file after gzip read
it in create mode without delaycompress), they are in no file, so nobody
could alert on them after a crash; they are counted, and the follower may
or may not have caught them while alive. With create + delaycompress nothing
is lost by logrotate, and the outbox must hold every login written.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authwatch.store import Store
from tests.conftest import REPO
from tests.e2e.conftest import need_programs

SECONDS = float(os.environ.get("AUTHWATCH_ROTATION_SECONDS", "8"))

WRITER = r"""
import os, random, signal, sys, time
path, rate, split = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "split"
reopen, stop = [True], [False]
signal.signal(signal.SIGHUP, lambda *a: reopen.__setitem__(0, True))
signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))
fd, k = None, 0
while not stop[0]:
    if reopen[0]:
        reopen[0] = False
        if fd is not None:
            os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    k += 1
    t = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % (k % 1000000)
    if k % 2:
        line = f"{stamp} web1 sshd[{k}]: Accepted password for alice from 198.51.100.7 port {k} ssh2\n"
    else:
        line = f"{stamp} web1 sshd[{k}]: Failed password for root from 203.0.113.5 port {k} ssh2\n"
    data = line.encode()
    if split and k % 7 == 0:  # a line written in two parts: the follower must wait for its end
        os.write(fd, data[:25])
        time.sleep(0.002)
        os.write(fd, data[25:])
    else:
        os.write(fd, data)
    time.sleep(random.uniform(0, 2 / rate))
print(k, flush=True)
"""

MODES = {
    # Debian's rsyslog rotation: rename, create, HUP; compressed one rotation later
    "create-delaycompress": ("create\ncompress\ndelaycompress", True),
    # compressed right away: the renamed file is gzipped just after postrotate's HUP
    "create-compress": ("create\ncompress", True),
    "copytruncate": ("copytruncate", False),
    # the copy is compressed right away: the rest of the old lines come from the .gz
    "copytruncate-compress": ("copytruncate\ncompress", False),
}

_LOGIN = re.compile(rb"Accepted password for alice from 198\.51\.100\.7 port (\d+) ssh2$")


def logins_in_files(directory: Path) -> list[int]:
    ports = []
    for p in directory.iterdir():
        if not p.name.startswith("auth.log"):
            continue
        data = p.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        ports += [int(m[1]) for m in map(_LOGIN.search, data.splitlines()) if m]
    return ports


def position(tmp_path: Path, log: Path):
    if not (tmp_path / "state.db").exists():
        return None
    with Store(str(tmp_path / "state.db")) as s:
        return s.position(str(log))


def wait_until(predicate, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Follower:
    def __init__(self, cfg: Path, out: Path):
        self.cfg, self.out = cfg, out
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self):
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "authwatch", "run", "--config", str(self.cfg)],
                                         cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.kills += 1

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)


@pytest.mark.parametrize("mode", list(MODES))
def test_logrotate_and_sigkill_lose_nothing_and_duplicate_nothing(tmp_path, mode):
    need_programs("logrotate")
    options, reopens = MODES[mode]
    rng = random.Random(f"{mode}-{os.getpid()}")
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: {tmp_path}/state.db\nsources: [{log}]\n")
    follower = Follower(cfg, tmp_path / "authwatch.out")
    follower.start()  # first start: at the end of the (empty) log, saved at once
    wait_until(lambda: position(tmp_path, log) is not None, "the follower's first position")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), "400", "split" if reopens else "whole"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    post = f"postrotate\n  kill -HUP {writer.pid}\nendscript" if reopens else ""
    (tmp_path / "logrotate.conf").write_text(f"{log} {{\n  rotate 1000\n  missingok\n{options}\n{post}\n}}\n")
    rotations = 0
    try:
        end = time.monotonic() + SECONDS
        next_kill = time.monotonic() + rng.uniform(0.3, 1.5)
        while time.monotonic() < end:
            time.sleep(rng.uniform(0.1, 0.4))
            r = subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"),
                                str(tmp_path / "logrotate.conf")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            rotations += 1
            if time.monotonic() >= next_kill:
                follower.kill()
                time.sleep(rng.uniform(0, 0.5))
                follower.start()
                next_kill = time.monotonic() + rng.uniform(0.3, 1.5)
        writer.send_signal(signal.SIGTERM)
        written = int(writer.communicate(timeout=10)[0])
        in_files = logins_in_files(tmp_path)
        deadline = time.monotonic() + 30
        while True:
            with Store(str(tmp_path / "state.db")) as s:
                queued = [a.event["port"] for a in s.queued_alerts(limit=1_000_000)]
            if set(in_files) <= set(queued) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        if writer.poll() is None:
            writer.kill()
        follower.stop()
    logins_written = set(range(1, written + 1, 2))
    lost_by_logrotate = logins_written - set(in_files)
    print(f"{mode}: {written} lines, {len(logins_written)} logins, {rotations} rotations, {follower.kills} SIGKILLs, "
          f"{len(lost_by_logrotate)} logins in no file (logrotate), {len(queued)} queued")
    # about 3,200 lines and 25 rotations per mode (400 lines/s for 8 s), some 100 rotations in all
    assert rotations >= 15 and follower.kills >= 3 and written >= 2000  # a loaded machine writes fewer
    assert len(in_files) == len(set(in_files))  # sanity of the read-back
    assert len(queued) == len(set(queued)), "a login was queued twice"
    assert set(queued) <= logins_written, "something was queued that was never written"
    assert sorted(set(in_files) - set(queued)) == [], "logins in the files never reached the outbox"
    if mode == "create-delaycompress":
        assert lost_by_logrotate == set()
        assert set(queued) == logins_written
    assert "Traceback" not in (tmp_path / "authwatch.out").read_text()
