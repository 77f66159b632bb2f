"""`authwatch replay` end to end, through the command line."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest

from tests.conftest import FIXTURES, REPO

SCHEMA = json.loads((REPO / "docs" / "event.schema.json").read_text())
V10 = str(FIXTURES / "openssh-10-rfc3339.log")


def test_default_output_is_one_block_per_login(cli):
    r = cli("replay", V10)
    assert r.code == 0, r.err
    blocks = [b for b in r.out.split("\n\n") if b.strip()]
    scenarios = json.loads((FIXTURES / "openssh-10-scenarios.json").read_text())["scenarios"]
    logins = [s for s in scenarios if s["scenario"] not in ("failed-password", "invalid-user", "preauth-close", "preauth-banner")]
    assert len(blocks) == len(logins) + 1  # + the forged line, which a text file cannot tell apart
    first = blocks[0].splitlines()
    assert first[0] == f"LOGIN  alice@web1  from 127.0.0.1 port {scenarios[0]['client_port']}"
    assert any(line.split() == ["session", "shell", "on", "pts/0"] for line in first)


def test_a_key_found_line_shows_the_key_not_an_unknown_user(cli):
    r = cli("replay", "--events", V10)
    key_blocks = [b for b in r.out.split("\n\n") if b.startswith("KEY")]
    assert key_blocks and all(b.startswith("KEY  on web1\n") for b in key_blocks)
    assert "    key       ED25519 SHA256:" in key_blocks[0]


def test_json_lines_follow_the_schema(cli):
    r = cli("replay", "--json", "--events", V10)
    assert r.code == 0
    events = r.json()
    assert len(events) > 50
    for e in events:
        jsonschema.validate(e, SCHEMA)
    assert {e["kind"] for e in events} >= {"login", "failure", "invalid_user", "logout", "session", "disconnect"}


def test_json_without_events_prints_only_alerts(cli):
    events = cli("replay", "--json", V10).json()
    assert events and all(e["kind"] == "login" and e["alert"]["severity"] == "info" for e in events)
    assert len({e["alert"]["id"] for e in events}) == len(events)


def test_stats_go_to_stderr(cli):
    r = cli("replay", "--stats", "--json", V10)
    assert "lines read" in r.err and "sshd lines of unknown shape" in r.err
    lines = {l.rsplit(None, 1)[0].strip(): l.rsplit(None, 1)[1] for l in r.err.splitlines() if l[:1] != " "}
    assert lines["lines read"] == str(len((FIXTURES / "openssh-10-rfc3339.log").read_text().splitlines()))
    assert lines["sshd lines of unknown shape"] == "0"


def test_stats_show_examples_of_unknown_shapes(cli, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("2026-11-22T15:04:05+00:00 web1 sshd[1]: A message from a future OpenSSH\n")
    r = cli("replay", "--stats", str(log))
    assert "sshd lines of unknown shape" in r.err
    assert f"{log}:1: 2026-11-22T15:04:05+00:00 web1 sshd[1]: A message from a future OpenSSH" in r.err


def test_gzip_and_plain_give_the_same_events(cli, tmp_path):
    gz = tmp_path / "auth.log.2.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "openssh-9.2-classic.log").read_bytes()))
    shutil.copystat(FIXTURES / "openssh-9.2-classic.log", gz)
    plain = cli("replay", "--json", "--events", str(FIXTURES / "openssh-9.2-classic.log")).json()
    packed = cli("replay", "--json", "--events", str(gz)).json()
    strip = lambda evs: [{k: v for k, v in e.items() if k != "source"} for e in evs]  # noqa: E731
    assert strip(plain) == strip(packed)


def test_stdin(cli):
    r = cli("replay", "--json", "--now", "2026-11-22T17:00:00+00:00", "-",
            stdin=(FIXTURES / "openssh-9.2-classic.log").read_bytes())
    events = r.json()
    assert events and events[0]["source"].startswith("stdin:")
    assert events[0]["time"].startswith("2026-11-22T")


def test_classic_timestamps_read_against_now_and_zone(cli, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("Dec 31 23:59:59 web1 sshd[1]: Accepted password for a from 1.2.3.4 port 5 ssh2\n")
    config = tmp_path / "c.yaml"
    config.write_text("timezone: Asia/Tokyo\n")
    r = cli("replay", "--json", "--config", str(config), "--now", "2027-01-01T10:00:00", str(log))
    assert r.json()[0]["time"] == "2026-12-31T23:59:59+09:00"


def test_default_now_is_the_file_modification_time(cli, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("Dec 31 23:59:59 web1 sshd[1]: Accepted password for a from 1.2.3.4 port 5 ssh2\n")
    os.utime(log, (1893456000, 1893456000))  # 2030-01-01
    assert cli("replay", "--json", str(log)).json()[0]["time"].startswith("2029-12-31")


def test_session_types_of_the_real_fixture(cli):
    scenarios = json.loads((FIXTURES / "openssh-10-scenarios.json").read_text())["scenarios"]
    by_port = {e["port"]: e for e in cli("replay", "--json", V10).json()}
    expected = {"shell-pty": "shell", "exec": "exec", "scp-legacy": "exec", "scp-sftp": "sftp", "sftp": "sftp"}
    for s in scenarios:
        if s["scenario"] in expected:
            want = expected[s["scenario"]] if s["loglevel"] == "VERBOSE" else (
                "sftp" if expected[s["scenario"]] == "sftp" else "unknown"  # internal-sftp -l INFO still says so
            )
            assert by_port[s["client_port"]]["session"] == want, s


def test_multi_factor_login_lists_every_method(cli):
    scenarios = json.loads((FIXTURES / "openssh-10-scenarios.json").read_text())["scenarios"]
    port = next(s["client_port"] for s in scenarios if s["user"] == "carol" and s["loglevel"] == "VERBOSE")
    e = next(e for e in cli("replay", "--json", V10).json() if e["port"] == port)
    assert (e["method"], e["methods"]) == ("password", ["publickey", "password"])
    assert e["key"].startswith("SHA256:") and e["key_location"] == "/home/carol/.ssh/authorized_keys:1"


@pytest.mark.parametrize("version", ["9.2", "10"])
def test_three_formats_give_the_same_events(cli, version):
    results = []
    for fmt in ("rfc3339", "classic", "rfc5424"):
        path = FIXTURES / f"openssh-{version}-{fmt}.log"
        events = cli("replay", "--json", "--events", "--now", "2026-11-22T18:00:00+00:00", str(path)).json()
        for e in events:
            e["time"] = e["time"][:19]  # classic has whole seconds
            e.pop("source")
            e["alert"] = e["alert"] and e["alert"]["severity"]
        results.append(events)
    assert results[0] == results[1] == results[2]


def test_missing_file_is_exit_2_with_one_line(cli, tmp_path):
    r = cli("replay", str(tmp_path / "nope.log"))
    assert r.code == 2
    assert r.err == f"authwatch: error: {tmp_path / 'nope.log'}: no such file\n"


def test_directory_is_exit_2(cli, tmp_path):
    r = cli("replay", str(tmp_path))
    assert r.code == 2 and "is a directory" in r.err and "Traceback" not in r.err


def test_unreadable_file_is_exit_2(tmp_path_factory):
    """As an unprivileged user (root reads anything: run as nobody then)."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv to drop privileges")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        log = os.path.join(d, "auth.log")
        with open(log, "w") as f:
            f.write("x\n")
        os.chmod(log, 0)
        drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
        r = subprocess.run([*drop, sys.executable, "-m", "authwatch", "replay", log], capture_output=True, text=True,
                           cwd=d, env={**os.environ, "PYTHONPATH": str(REPO), "HOME": d})
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"authwatch: error: {log}: permission denied\n"


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 10000, os.urandom(200_000), b"x" * (1 << 20) + b"\n", b"2026-11-22T15:04:05+00:00 web1 sshd[1]: Acc"],
    ids=["empty", "nul", "binary", "1MB-line", "truncated-last-line"],
)
def test_bad_input_never_crashes(cli, tmp_path, content):
    log = tmp_path / "auth.log"
    log.write_bytes(content)
    r = cli("replay", "--stats", "--events", str(log))
    assert r.code == 0 and "Traceback" not in r.err
    assert "lines read" in r.err


def test_corrupt_gzip_is_reported_and_other_files_still_replayed(cli, tmp_path):
    bad = tmp_path / "auth.log.2.gz"
    bad.write_bytes(gzip.compress(b"".join(b"line %d\n" % i for i in range(50000)))[:300])
    r = cli("replay", "--json", str(bad), V10)
    assert r.code == 2 and "auth.log.2.gz: cannot read" in r.err
    assert len(r.json()) > 5


def test_bad_now_is_a_usage_error(cli):
    r = cli("replay", "--now", "yesterday", V10)
    assert r.code == 2 and "--now 'yesterday'" in r.err


def test_state_is_scratch_unless_given(cli, tmp_path):
    state = tmp_path / "state.db"
    cli("replay", V10)
    assert not state.exists()
    assert cli("replay", "--state", str(state), V10).code == 0
    import sqlite3

    assert sqlite3.connect(state).execute("select count(*) from alerts").fetchone()[0] > 5


def test_help_answers(cli):
    r = cli("replay", "--help")
    assert r.code == 0
    for option in ("--json", "--events", "--stats", "--now", "--state", "--config"):
        assert option in r.out
    top = cli("--help")
    assert "replay" in top.out and "Exit codes" in top.out


def test_console_script_runs_as_a_program(tmp_path):
    r = subprocess.run([sys.executable, "-m", "authwatch", "replay", "--json", V10], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.count("\n") > 5


def test_broken_pipe_is_quiet():
    p = subprocess.run(f"{sys.executable} -m authwatch replay --events {V10} | head -1", shell=True,
                       capture_output=True, text=True)
    assert p.stdout.strip() and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr


def test_a_cut_off_gzip_still_gives_the_lines_before_the_cut(cli, tmp_path):
    """What zcat recovers, replay reads, then says the file was damaged."""
    content = (FIXTURES / "bruteforce-excerpt.log").read_bytes()
    packed = gzip.compress(content)
    cut = tmp_path / "auth.log.2.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    r = cli("replay", "--stats", "--events", "--json", str(cut))
    assert r.code == 2 and "auth.log.2.gz: cannot read: Compressed file ended" in r.err
    recovered = r.json()
    whole = cli("replay", "--events", "--json", str(FIXTURES / "bruteforce-excerpt.log")).json()
    assert len(whole) * 0.4 < len(recovered) < len(whole)
    assert [e["port"] for e in recovered] == [e["port"] for e in whole[: len(recovered)]]


@pytest.mark.parametrize(
    "content, fmt",
    [
        (b"Nov 22 16:05:59 web1 sshd[123] Accepted password for bob from 1.2.3.4 port 22 ssh2\n", "auto"),  # no colon
        (os.urandom(20_000), "auto"),
        ((FIXTURES / "openssh-10-classic.log").read_bytes(), "ssh-logins"),
    ],
    ids=["unknown-layout", "binary", "wrong-format"],
)
def test_a_file_with_no_line_understood_is_warned_about(cli, tmp_path, content, fmt):
    log = tmp_path / "auth.log"
    log.write_bytes(content)
    r = cli("replay", "--format", fmt, str(log))
    assert r.code == 0 and r.out == ""
    [warning] = [line for line in r.err.splitlines() if line.startswith(f"authwatch: warning: {log}: none of the ")]
    assert "was understood" in warning and "classic 'Nov 22 15:04:05[.123456]" in warning and "--format" in warning
    assert (f"read as {fmt} (--format)" in warning) == (fmt != "auto")


def test_a_file_with_lines_understood_or_no_lines_is_not_warned_about(cli, tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    r = cli("replay", str(tmp_path / "empty.log"), str(FIXTURES / "openssh-10-classic.log"))
    assert r.code == 0 and "warning" not in r.err


def test_journalctl_short_precise_lines_are_replayed(cli, tmp_path):
    log = tmp_path / "short-precise.log"
    log.write_bytes(b"Nov 22 16:05:59.123456 web1 sshd[123]: Accepted password for bob from 1.2.3.4 port 22 ssh2\n")
    r = cli("replay", "--json", "--now", "2026-11-23T00:00", str(log))
    assert r.code == 0 and "warning" not in r.err
    assert json.loads(r.out)["time"] == "2026-11-22T16:05:59.123456+00:00"


def test_stats_count_an_over_long_sshd_line_as_unknown(cli, tmp_path):
    log = tmp_path / "auth.log"
    hostile = "Failed publickey for invalid user x" + " from 1.2.3.4 port 1 ssh2: A (null) ID" * 1700
    log.write_text(f"2026-11-22T15:04:05+00:00 web1 sshd[1]: {hostile}\n"
                   "2026-11-22T15:04:06+00:00 web1 sshd[1]: Failed password for bob from 203.0.113.5 port 4 ssh2\n")
    r = cli("replay", "--stats", "--events", "--json", str(log))
    assert r.code == 0
    assert [(e["kind"], e["ip"]) for e in r.json()] == [("failure", "203.0.113.5")]
    counts = {l.rsplit(None, 1)[0].strip(): l.rsplit(None, 1)[1] for l in r.err.splitlines() if l[:1] != " "}
    assert (counts["lines read"], counts["sshd events"], counts["sshd lines of unknown shape"]) == ("2", "1", "1")
    assert f"{log}:1: 2026-11-22T15:04:05+00:00 web1 sshd[1]: Failed publickey for invalid user x from" in r.err


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_pipe_given_as_a_path_is_read_like_stdin(cli, packed):
    """`replay <(zcat auth.log.2.gz)` hands over /dev/fd/63: a pipe, which
    cannot seek back over bytes read to tell gzip from text, nor give them twice."""
    import threading

    data = (FIXTURES / "openssh-9.2-classic.log").read_bytes()
    read_end, write_end = os.pipe()

    def write():
        with open(write_end, "wb") as f:
            f.write(gzip.compress(data) if packed else data)

    writer = threading.Thread(target=write, daemon=True)  # blocked for good if the reader gives up
    writer.start()
    try:
        r = cli("replay", "--json", "--events", "--now", "2026-11-22T17:00:00+00:00", f"/dev/fd/{read_end}")
    finally:
        os.close(read_end)
    writer.join(10)
    expected = cli("replay", "--json", "--events", "--now", "2026-11-22T17:00:00+00:00",
                   str(FIXTURES / "openssh-9.2-classic.log"))
    assert r.code == 0 and "Traceback" not in r.err, r.err
    strip = lambda evs: [{k: v for k, v in e.items() if k != "source"} for e in evs]  # noqa: E731
    assert strip(r.json()) == strip(expected.json()) != []
