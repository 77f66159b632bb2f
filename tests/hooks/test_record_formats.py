"""The two record formats read back: the PAM hook's spool lines and the
profile hook's ~/.ssh_logins lines. Anything malformed is counted, never
raised, and never lands in another field."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from authwatch.parse.records import RecordParser
from authwatch.parse.sshlogins import LoginsParser
from tests.hooks import keys

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)


def record(*fields: str, prefix: str = "aw1 ") -> str:
    return prefix + base64.b64encode("".join(f + "\0" for f in fields).encode()).decode()


def fields(time="1795363200.123456789", service="sshd", user="alice", rhost="2001:db8::7", tty="ssh",
           conn="2001:db8::7 50022 2001:db8::1 22", info="password\n", too_long=""):
    return time, service, user, rhost, tty, conn, info, too_long


def parse_record(line: str):
    parser = RecordParser("web1.example.com", NOW, "/var/spool/authwatch/logins")
    events = parser.parse_block(line, 7)
    return (events[0] if events else None), parser.stats


def test_a_record_becomes_a_record_event_with_its_place_in_the_spool():
    e, stats = parse_record(record(*fields()))
    assert (e.kind, e.host, e.user, e.ip, e.port, e.method, e.ident) == \
        ("record", "web1.example.com", "alice", "2001:db8::7", 50022, "password", "pam_exec")
    assert e.time == datetime(2026, 11, 22, 16, 0, 0, 123456, tzinfo=timezone.utc)
    assert e.source == e.record.source == "/var/spool/authwatch/logins:7"
    assert (stats.lines, stats.events, stats.malformed) == (1, 1, 0)


def test_an_ipv4_client_seen_through_ipv6_is_given_as_ipv4():
    e, _ = parse_record(record(*fields(conn="::ffff:198.51.100.7 50022 ::ffff:192.0.2.1 22")))
    assert e.ip == "198.51.100.7"


@pytest.mark.parametrize("stamp", ["", "yesterday", "1795363200.x", "9" * 40])
def test_a_record_without_a_readable_time_still_reports_its_login_at_reading_time(stamp):
    e, _ = parse_record(record(*fields(time=stamp)))
    assert e.time == NOW and e.user == "alice"


def test_seconds_without_nanoseconds_are_read_too():
    e, _ = parse_record(record(*fields(time="1795363200")))
    assert e.time == datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("line", [
    "", "garbage", "aw2 " + base64.b64encode(b"a\0").decode(), "aw1 not base64!",
    record("1", "sshd", "alice"),  # too few fields
    record(*fields(), "extra"),  # too many
    record(*fields())[:-4] + "AAAA",  # the last field not ended
    "aw1 " + "A" * 20000,
])
def test_anything_else_is_a_malformed_line(line):
    e, stats = parse_record(line)
    assert e is None and stats.malformed == 1


@pytest.mark.parametrize("conn", ["", "203.0.113.5", "not-an-ip 1 2 3", "203.0.113.5 99999 1.2.3.4 22",
                                  "203.0.113.5 -1 1.2.3.4 22", "203.0.113.5 5 1.2.3.4 22 extra"])
def test_an_unusable_ssh_connection_gives_no_address_and_no_port(conn):
    e, _ = parse_record(record(*fields(conn=conn)))
    assert (e.ip, e.port) == (None, None) and e.user == "alice"


def test_a_value_with_newlines_and_nuls_in_utf8_stays_in_its_field():
    e, _ = parse_record(record(*fields(user="é\n\x1b[31m", rhost="a b\r\nc")))
    assert (e.user, e.record.rhost) == ("é\n\x1b[31m", "a b\r\nc")


# -- ~/.ssh_logins ----------------------------------------------------------------


def parse_logins(text: str):
    parser = LoginsParser("web1", timezone(timedelta(hours=2)), "/home/alice/.ssh_logins")
    return parser.parse_block(text, 1), parser.stats


def test_the_lines_existing_profile_hooks_write_are_logins():
    (e,), _ = parse_logins("2026-04-13 16:46:59 +0100 1.2.3.4 alice publickey")
    assert (e.kind, e.user, e.ip, e.port, e.method, e.session, e.ident) == \
        ("login", "alice", "1.2.3.4", None, "publickey", "shell", "profile")
    assert e.time == datetime(2026, 4, 13, 15, 46, 59, tzinfo=timezone.utc)
    assert e.source == "/home/alice/.ssh_logins:1"


def test_authwatch_lines_add_the_port_and_the_key(tmp_path):
    key = keys.make(tmp_path, "ed25519")
    (e,), _ = parse_logins(f"2026-11-22 16:05:59 +0000 127.0.0.1 alice publickey port=53858 key={key.type_name}:{key.b64}")
    assert (e.port, e.key, e.key_type, e.methods) == (53858, key.fingerprint, "ED25519", ("publickey",))


def test_unknown_methods_multi_factor_and_lines_without_a_zone():
    (a, b, c), _ = parse_logins("2026-11-22 16:05:59 +0000 127.0.0.1 bob unknown port=1\n"
                                "2026-11-22 16:05:59 +0000 127.0.0.1 carol publickey+password port=2\n"
                                "2026-11-22 16:05:59 192.0.2.1 dave")
    assert (a.method, a.methods) == (None, ())
    assert (b.method, b.methods) == ("password", ("publickey", "password"))
    assert (c.user, c.method, c.time.utcoffset()) == ("dave", None, timedelta(hours=2))  # the given zone


def test_a_zone_written_by_name_is_not_taken_for_the_address():
    (utc, named), _ = parse_logins("2026-11-22 16:05:59 UTC 198.51.100.7 alice publickey\n"
                                   "2026-11-22 16:05:59 CET 198.51.100.8 bob password")
    assert (utc.ip, utc.user, utc.method, utc.time.utcoffset()) == ("198.51.100.7", "alice", "publickey", timedelta(0))
    assert (named.ip, named.user, named.time.utcoffset()) == ("198.51.100.8", "bob", timedelta(hours=2))  # configured


@pytest.mark.parametrize("line", ["", "hello", "2026-13-45 99:99:99 +0000 1.2.3.4 alice password",
                                  "2026-11-22 16:05:59 +0000", "x" * 10000])
def test_malformed_profile_lines_are_counted(line):
    events, stats = parse_logins(line)
    assert events == [] and stats.malformed == 1
