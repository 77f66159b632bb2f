"""Journal entries: parsing, and forged sshd lines told from real ones."""

import json
import os
from datetime import timezone

import jsonschema
import pytest

from authwatch.parse.journal import JournalParser
from authwatch.parse.sshd import NOISE, UNKNOWN
from authwatch.parse.syslog import MALFORMED, OTHER
from tests.conftest import FIXTURES, REPO

SCHEMA = json.loads((REPO / "docs" / "event.schema.json").read_text())
ACCEPTED = "Accepted password for root from 203.0.113.9 port 22 ssh2"


def entry(message=ACCEPTED, **fields):
    e = {
        "__REALTIME_TIMESTAMP": "1795363559623184", "_HOSTNAME": "web1", "MESSAGE": message,
        "SYSLOG_IDENTIFIER": "sshd-session", "SYSLOG_PID": "8136", "_PID": "8136", "_UID": "0",
        "_COMM": "sshd-session", "_EXE": "/usr/lib/openssh/sshd-session", "_TRANSPORT": "syslog",
    }
    e.update(fields)
    return {k: v for k, v in e.items() if v is not None}


def parse(e):
    return JournalParser(timezone.utc, "j").parse_entry(e, "j:1")


def test_genuine_monitor_entry_is_a_login_with_microsecond_time():
    e = parse(entry())
    assert (e.kind, e.user, e.ip, e.port, e.host, e.pid, e.forged) == (
        "login", "root", "203.0.113.9", 22, "web1", 8136, None,
    )
    assert e.time.isoformat() == "2026-11-22T16:05:59.623184+00:00"


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"_UID": "65534", "_COMM": "logger", "_EXE": "/usr/bin/logger", "SYSLOG_PID": "1", "_PID": "4242"},
         "a user with logger"),
        ({"_UID": "1000", "_EXE": None, "_COMM": None}, "a user whose process already exited"),
        ({"SYSLOG_PID": "1"}, "root, claiming another pid"),
        ({"SYSLOG_PID": None}, "no pid claimed at all"),
        ({"_EXE": "/usr/bin/python3.11", "_COMM": "python3"}, "root, but not sshd's binary"),
        ({"_EXE": "/tmp/sshd-session-not", "_COMM": "sshd-session"}, "a name that is not sshd"),
    ],
)
def test_forged_entries(fields, why):
    e = parse(entry(**fields))
    assert e.kind == "forged", why
    assert e.forged.claimed_kind == "login"
    assert e.forged.uid == int(fields.get("_UID", "0"))
    assert e.forged.exe == fields.get("_EXE", "/usr/lib/openssh/sshd-session")
    assert (e.user, e.ip) == ("root", "203.0.113.9")  # what it claimed, kept for the alert


@pytest.mark.parametrize(
    "message",
    [
        "Failed password for invalid user admin from 203.0.113.9 port 22 ssh2",
        "Invalid user admin from 203.0.113.9 port 22",
        "pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)",
        "Connection closed by invalid user admin 203.0.113.9 port 22 [preauth]",
    ],
)
def test_every_monitor_only_kind_is_checked(message):
    assert parse(entry(message, _UID="1000")).kind == "forged"
    assert parse(entry(message)).kind != "forged"


def test_missing_exe_and_comm_alone_are_not_evidence():
    assert parse(entry(_EXE=None, _COMM=None)).kind == "login"


def test_replaced_binary_still_counts_as_sshd():
    assert parse(entry(_EXE="/usr/sbin/sshd (deleted)")).kind == "login"


@pytest.mark.parametrize(
    "message",
    [
        "Starting session: shell on pts/0 for alice from 198.51.100.7 port 52144 id 0",
        "Disconnected from user alice 198.51.100.7 port 52144",
    ],
)
def test_user_child_lines_carry_the_users_uid_legitimately(message):
    e = parse(entry(message, _UID="2001", SYSLOG_PID="9000", _PID="9000"))
    assert e.kind in ("session", "logout")


def test_sftp_server_lines_are_not_judged():
    e = parse(entry("session opened for local user alice from [198.51.100.7]", SYSLOG_IDENTIFIER="internal-sftp",
                    _UID="2001", _COMM="sshd-session"))
    assert (e.kind, e.session) == ("session", "sftp")


def test_other_programs_and_bad_entries():
    assert parse(entry(SYSLOG_IDENTIFIER="sudo", _COMM="sudo")) == OTHER
    assert parse(entry(message=None)) == MALFORMED  # journalctl nulls values over 4096 bytes
    assert parse(entry(__REALTIME_TIMESTAMP="soon")) == MALFORMED
    assert parse(entry("Server listening on 0.0.0.0 port 22.")) == NOISE


def test_non_utf8_message_arrives_as_bytes():
    raw = list(b"Invalid user \xff\xfeadmin from 203.0.113.9 port 22")
    e = parse(entry(raw))
    assert e.kind == "invalid_user" and e.user == "\ufffd\ufffdadmin"


def test_a_pid_of_thousands_of_digits_is_no_pid():
    """int() refuses over 4,300 digits: such a SYSLOG_PID is not sshd's own."""
    e = parse(entry(SYSLOG_PID="9" * 5000))
    assert (e.kind, e.forged.claimed_pid, e.forged.pid) == ("forged", None, 8136)
    e = parse(entry(_PID="9" * 5000, _UID="1" * 5000))
    assert (e.kind, e.forged.uid, e.forged.pid, e.pid) == ("forged", None, None, 8136)


def test_a_lone_surrogate_is_kept_as_its_escape():
    """JSON may hold "\\ud800", which no output, store or message can encode."""
    line = json.dumps(entry("Accepted password for ro\ud800ot from 203.0.113.9 port 22 ssh2", _HOSTNAME="w\udfffeb"))
    assert "\\ud800" in line
    (e,) = JournalParser(timezone.utc, "j").parse_block(line, 1)
    assert (e.user, e.host) == ("ro\\ud800ot", "w\\udfffeb")
    e.user.encode("utf-8")
    assert parse(entry("Accepted password for r\u00f6ot from 203.0.113.9 port 22 ssh2")).user == "r\u00f6ot"


def test_block_counts_malformed_json():
    p = JournalParser(timezone.utc, "j")
    text = "\n".join([json.dumps(entry()), "{not json", "[1, 2]", json.dumps(entry(SYSLOG_IDENTIFIER="x", _COMM="x"))])
    events = p.parse_block(text, 1)
    assert [e.kind for e in events] == ["login"]
    assert (p.stats.lines, p.stats.events, p.stats.malformed, p.stats.other) == (4, 1, 2, 1)


def test_replay_of_hostile_journal_entries_gives_no_traceback(tmp_path):
    """Through a real stdout (UTF-8, strict), the state store and --json."""
    import subprocess
    import sys

    log = tmp_path / "j.json"
    log.write_text("\n".join([
        json.dumps(entry("Accepted password for ro\ud800ot from 203.0.113.9 port 22 ssh2")),
        json.dumps(entry(SYSLOG_PID="9" * 5000)),
    ]) + "\n")
    for extra in ([], ["--json"]):
        r = subprocess.run([sys.executable, "-m", "authwatch", "replay", "--state", str(tmp_path / "s.db"), *extra,
                            str(log)], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"})
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "ro\\ud800ot" in r.stdout.replace("\\\\", "\\")  # JSON doubles the backslash
        assert "FORGED" in r.stdout or '"forged"' in r.stdout


@pytest.mark.parametrize("version", ["9.2", "10"])
def test_journal_export_gives_the_logins_of_the_text_log_and_one_forgery(cli, version):
    journal = cli("replay", "--json", str(FIXTURES / f"openssh-{version}-journal.json")).json()
    text = cli("replay", "--json", str(FIXTURES / f"openssh-{version}-rfc3339.log")).json()
    for e in journal:
        jsonschema.validate(e, SCHEMA)
    forged = [e for e in journal if e["kind"] == "forged"]
    assert len(forged) == 1
    assert forged[0]["forged"]["uid"] == 65534 and forged[0]["forged"]["exe"] == "/usr/bin/logger"
    assert forged[0]["alert"]["severity"] == "critical"
    key = lambda e: (e["user"], e["ip"], e["port"], e["method"], tuple(e["methods"]), e["key"], e["session"])  # noqa: E731
    assert sorted(map(key, (e for e in journal if e["kind"] == "login"))) == sorted(
        map(key, (e for e in text if e["port"] != 22))  # the text log cannot tell the forgery apart
    )


def test_format_flag_and_detection(cli, tmp_path):
    journal = str(FIXTURES / "openssh-10-journal.json")
    assert cli("replay", "--json", journal).json() == cli("replay", "--json", "--format", "journal-json", journal).json()
    as_text = cli("replay", "--stats", "--format", "syslog", journal)
    assert "sshd events                                       0" in as_text.err


def test_a_message_longer_than_sshd_writes_is_unknown_at_once():
    import time

    start = time.perf_counter()
    r = parse(entry("Failed publickey for invalid user x" + " from 1.2.3.4 port 1 ssh2: A (null) ID" * 1700))
    assert r == UNKNOWN and time.perf_counter() - start < 0.01
