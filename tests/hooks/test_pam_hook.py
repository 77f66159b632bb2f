"""The PAM hook script itself, run as pam_exec runs it: one record per
session opened, that no PAM value can break or multiply; exit 0 whatever
goes wrong; never root's write into a directory another user controls, and
nothing that can make a login wait."""

from __future__ import annotations

import base64
import os
import pwd
import stat
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from authwatch.parse.records import RecordParser
from tests.hooks import keys
from tests.hooks.spool import make_spool_dir, owner, pam_env, remove_spool_dir, run_hook

QUICK = 2.0  # seconds: far more than the hook takes, far less than a blocked write would


@pytest.fixture
def spool():
    directory = make_spool_dir()
    yield directory / "logins"
    remove_spool_dir(directory)


def records(spool: Path):
    text = spool.read_text() if spool.exists() else ""
    parser = RecordParser("web1", datetime.now(timezone.utc), str(spool))
    return parser.parse_block(text.rstrip("\n"), 1) if text else [], text


def test_a_session_opening_appends_one_record_as_the_spools_owner(spool, tmp_path):
    key = keys.make(tmp_path, "ed25519")
    before = datetime.now(timezone.utc)
    run = run_hook(spool, pam_env(SSH_AUTH_INFO_0=f"publickey {key.line}\n"))
    assert run.code == 0 and run.stderr == ""
    events, text = records(spool)
    assert text.count("\n") == 1 and text.startswith("aw1 ")
    e = events[0]
    assert (e.kind, e.user, e.ip, e.port, e.method, e.key, e.key_type) == \
        ("record", "alice", "203.0.113.5", 50022, "publickey", key.fingerprint, "ED25519")
    assert (e.record.service, e.record.tty, e.record.rhost) == ("sshd", "ssh", "203.0.113.5")
    assert before <= e.time <= datetime.now(timezone.utc)
    assert e.time.microsecond or e.time.second  # sub-second time is kept
    assert pwd.getpwuid(spool.stat().st_uid).pw_name == owner().split(":")[0]  # not root's file


@pytest.mark.parametrize("pam_type", ["close_session", "auth", "account", None])
def test_nothing_but_a_session_opening_writes(spool, pam_type):
    assert run_hook(spool, pam_env(PAM_TYPE=pam_type)).code == 0
    assert not spool.exists()


def test_hostile_pam_values_cannot_forge_a_second_record_or_break_one(spool):
    forged = "aw1 " + base64.b64encode(b"1\x00sshd\x00root\x00\x00\x001.2.3.4 1 1.2.3.4 22\x00password\x00\x00").decode()
    hostile = {
        "PAM_USER": f'al"ice\'\n{forged}\n$(reboot)`id`\\',
        "PAM_RHOST": "203.0.113.5 port 22 from 6.6.6.6\r\n" + forged,
        "PAM_TTY": "ssh\x1b[2J",
        "SSH_AUTH_INFO_0": f"password\n{forged}\n",
    }
    assert run_hook(spool, pam_env(**hostile)).code == 0
    events, text = records(spool)
    assert text.count("\n") == 1 and len(events) == 1
    e = events[0]
    assert e.user == hostile["PAM_USER"] and e.record.rhost == hostile["PAM_RHOST"] and e.record.tty == hostile["PAM_TTY"]
    assert (e.ip, e.port) == ("203.0.113.5", 50022)  # from SSH_CONNECTION only, never from PAM_RHOST


def test_a_forged_ssh_connection_gives_no_address_rather_than_a_wrong_one(spool):
    run_hook(spool, pam_env(SSH_CONNECTION="6.6.6.6 22 from 203.0.113.5 50022"))
    events, _ = records(spool)
    assert (events[0].ip, events[0].port) == (None, None)


def test_over_long_values_are_left_out_and_named_and_a_record_stays_one_atomic_write(spool, tmp_path):
    huge_key = keys.make(tmp_path, "rsa")  # fits
    run_hook(spool, pam_env(PAM_USER="u" * 300, SSH_AUTH_INFO_0=f"publickey {huge_key.line}\n"))
    run_hook(spool, pam_env(PAM_RHOST="h" * 5000, SSH_AUTH_INFO_0="publickey ssh-rsa " + "A" * 9000 + "\n"))
    events, text = records(spool)
    assert all(len(line) < 4096 for line in text.splitlines())  # under PIPE_BUF: one write(2)
    assert (events[0].user, events[0].key, events[0].detail) == (None, huge_key.fingerprint, "too long for a record, left out: user")
    assert (events[1].user, events[1].method, events[1].key) == ("alice", "publickey", None)
    assert events[1].detail == "too long for a record, left out: rhost info"


def test_the_environment_cannot_choose_the_programs_it_runs(spool, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("date", "base64", "dd", "setpriv"):
        (fake / name).write_text(f"#!/bin/sh\necho {name} >> {tmp_path}/ran\n")
        (fake / name).chmod(0o755)
    os.chmod(tmp_path, 0o755)
    assert run_hook(spool, pam_env(PATH=str(fake))).code == 0
    assert not (tmp_path / "ran").exists()
    assert len(records(spool)[0]) == 1


def test_a_symlinked_spool_is_not_followed(spool, tmp_path):
    target = tmp_path / "precious"
    target.write_text("untouched\n")
    os.chmod(target, 0o666)  # even a file the owner could write
    os.chmod(tmp_path, 0o755)
    os.symlink(target, spool)
    assert run_hook(spool, pam_env()).code == 0
    assert target.read_text() == "untouched\n"


def test_a_hard_link_to_a_root_file_is_not_written(spool, tmp_path):
    # With fs.protected_hardlinks=0 the spool's owner could link a root file in.
    target = spool.parent / "root-owned"
    target.write_text("root's\n")
    os.chmod(target, 0o644)
    os.link(target, spool)
    assert run_hook(spool, pam_env()).code == 0
    assert target.read_text() == "root's\n"


def test_a_fifo_without_a_reader_does_not_block_a_login(spool):
    os.mkfifo(spool)
    run = run_hook(spool, pam_env())
    assert run.code == 0 and run.seconds < QUICK


def test_a_full_fifo_whose_reader_never_reads_does_not_block_a_login(spool):
    os.mkfifo(spool)
    os.chmod(spool, 0o666)
    reader = os.open(spool, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(spool, os.O_WRONLY | os.O_NONBLOCK)
    try:
        try:
            while True:
                os.write(writer, b"x" * 65536)
        except BlockingIOError:
            pass  # full
        run = run_hook(spool, pam_env())
        assert run.code == 0 and run.seconds < QUICK
    finally:
        os.close(writer)
        os.close(reader)


@pytest.mark.parametrize("problem", ["no spool directory", "directory not writable", "disk full", "a directory"])
def test_whatever_goes_wrong_the_hook_exits_0_at_once(spool, problem):
    target = spool
    if problem == "no spool directory":
        target = spool.parent / "gone" / "logins"
    elif problem == "directory not writable":
        os.chmod(spool.parent, 0o500)
    elif problem == "disk full":
        target = Path("/dev/full")  # writes fail with ENOSPC
    else:
        spool.mkdir()
    run = run_hook(target, pam_env())
    assert run.code == 0 and run.seconds < QUICK
    assert not spool.is_file()


def test_an_unknown_writer_account_still_exits_0(spool):
    assert run_hook(spool, pam_env(), writer="no-such-user-x:no-such-group-x").code == 0
    assert not spool.exists()


def test_records_of_logins_at_the_same_moment_never_mix(spool, tmp_path):
    key = keys.make(tmp_path, "rsa")  # long records: 3/4 of PIPE_BUF
    env = pam_env(SSH_AUTH_INFO_0=f"publickey {key.line}\n" + "x" * 1200)
    threads = [threading.Thread(target=run_hook, args=(spool, env)) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events, text = records(spool)
    assert len(events) == 40 == text.count("\n")
    assert all(e.key == key.fingerprint for e in events)
    assert stat.S_ISREG(spool.stat().st_mode)


def test_a_spool_at_its_cap_grows_no_more_and_the_login_goes_on(spool):
    """Only a service stopped for long lets the spool reach 32 MiB; a flood of
    logins then cannot fill the disk."""
    assert run_hook(spool, pam_env()).code == 0  # made by its owner, as the hook makes it
    cap = 32 * 1024 * 1024
    os.truncate(spool, cap)  # sparse: no 32 MiB written
    run = run_hook(spool, pam_env())
    assert run.code == 0 and run.seconds < QUICK
    assert spool.stat().st_size == cap
    os.truncate(spool, cap - 5000)  # room for one more record
    assert run_hook(spool, pam_env()).code == 0
    assert cap - 5000 < spool.stat().st_size <= cap
