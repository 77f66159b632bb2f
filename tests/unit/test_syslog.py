"""Syslog line layouts, timestamps, hosts and the required sshd tag."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from authwatch.parse import timestamps
from authwatch.parse.sshd import NOISE, UNKNOWN
from authwatch.parse.syslog import MALFORMED, OTHER, Parser

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
MSG = "Accepted password for alice from 198.51.100.7 port 52144 ssh2"


def parse(line, now=NOW, tz=UTC):
    return Parser(now, tz, "auth.log").parse(line, 3)


def test_rfc3339_keeps_microseconds_and_offset():
    e = parse(f"2026-11-22T15:04:05.473997+01:00 web1 sshd[123]: {MSG}")
    assert e.time == datetime(2026, 11, 22, 15, 4, 5, 473997, tzinfo=timezone(timedelta(hours=1)))
    assert e.time.utcoffset() == timedelta(hours=1)
    assert (e.host, e.ident, e.pid, e.source) == ("web1", "sshd", 123, "auth.log:3")


@pytest.mark.parametrize(
    "stamp, expected",
    [
        ("2026-11-22T15:04:05Z", datetime(2026, 11, 22, 15, 4, 5, tzinfo=UTC)),
        ("2026-11-22T15:04:05.123+00:00", datetime(2026, 11, 22, 15, 4, 5, 123000, tzinfo=UTC)),
        ("2026-11-22T15:04:05.123456789+00:00", datetime(2026, 11, 22, 15, 4, 5, 123456, tzinfo=UTC)),
        ("2026-11-22T15:04:05-0500", datetime(2026, 11, 22, 20, 4, 5, tzinfo=UTC)),
    ],
)
def test_rfc3339_variants(stamp, expected):
    assert parse(f"{stamp} web1 sshd[1]: {MSG}").time == expected


def test_rfc3339_without_offset_is_read_in_the_zone():
    e = parse(f"2026-07-01T12:00:00 web1 sshd[1]: {MSG}", tz=LONDON)
    assert e.time.utcoffset() == timedelta(hours=1)


def test_rfc5424():
    e = parse(f"<38>1 2026-11-22T15:04:05.466036+00:00 web1 sshd-session 22026 - -  {MSG}")
    assert (e.kind, e.host, e.ident, e.pid, e.user) == ("login", "web1", "sshd-session", 22026, "alice")
    assert e.time.microsecond == 466036
    e = parse(f'<38>1 2026-11-22T15:04:05Z web1 sshd 7 - [origin ip="192.0.2.1"][x y="a\\]b"] {MSG}')
    assert (e.pid, e.user) == (7, "alice")


def test_classic_in_configured_zone_and_inferred_year():
    e = parse(f"Jul  1 12:00:00 web1 sshd[9]: {MSG}", tz=LONDON)
    assert e.time == datetime(2026, 7, 1, 12, 0, tzinfo=LONDON)
    assert e.time.utcoffset() == timedelta(hours=1)  # summer time


def test_classic_december_read_in_january_is_last_year():
    now = datetime(2027, 1, 2, 10, 0, tzinfo=UTC)
    assert parse(f"Dec 31 23:59:59 web1 sshd[9]: {MSG}", now=now).time.year == 2026
    assert parse(f"Jan  2 09:00:00 web1 sshd[9]: {MSG}", now=now).time.year == 2027


def test_classic_never_more_than_a_day_in_the_future():
    now = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert parse(f"Nov 23 15:00:00 web1 sshd[9]: {MSG}", now=now).time.year == 2026  # within a day: this year
    assert parse(f"Nov 24 15:00:00 web1 sshd[9]: {MSG}", now=now).time.year == 2025


def test_classic_feb_29_goes_back_to_a_leap_year():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert timestamps.classic("Feb", 29, 1, 2, 3, now, UTC).year == 2024


FAILED = "Failed password for alice from 198.51.100.7 port 52144 ssh2"


@pytest.mark.parametrize("msg", [FAILED, MSG])  # the fast path, the general path
@pytest.mark.parametrize("fraction, micros", [(".123456", 123456), (".1", 100000), (".123456789", 123456)])
def test_classic_with_a_fraction_of_a_second_keeps_the_microseconds(msg, fraction, micros):
    """journalctl -o short-precise, rsyslog's high-precision traditional templates."""
    e = parse(f"Nov 22 15:04:05{fraction} web1 sshd[9]: {msg}")
    assert e.time == datetime(2026, 11, 22, 15, 4, 5, micros, tzinfo=UTC)
    assert (e.host, e.pid, e.user, e.source) == ("web1", 9, "alice", "auth.log:3")
    assert parse(f"<38>Nov 22 15:04:05{fraction} web1 sshd[9]: {msg}").time.microsecond == micros


def test_classic_timestamps_are_cached_by_the_second_fraction_or_not():
    p = Parser(NOW, UTC, "f")
    lines = [f"Nov 22 15:04:05.{n:06d} web1 sshd[9]: {msg}" for n in range(50) for msg in (FAILED, MSG)]
    events = p.parse_block("\n".join(lines + [f"Nov 22 15:04:05 web1 sshd[9]: {MSG}"]), 1)
    assert [e.time.microsecond for e in events] == [n for n in range(50) for _ in range(2)] + [0]
    assert list(p._classic_cache) == ["Nov 22 15:04:05"]


def test_classic_with_priority_prefix():
    assert parse(f"<38>Nov 22 15:04:05 web1 sshd[9]: {MSG}").user == "alice"


def test_many_hosts_in_one_central_log():
    p = Parser(NOW, UTC, "central.log")
    a = p.parse(f"Nov 22 15:04:05 web1 sshd[9]: {MSG}")
    b = p.parse(f"Nov 22 15:04:05 db-2.example.com sshd-session[9]: {MSG}")
    assert (a.host, b.host) == ("web1", "db-2.example.com")


@pytest.mark.parametrize(
    "line",
    [
        f"Nov 22 15:04:05 web1 {MSG}",  # no daemon tag
        f"Nov 22 15:04:05 web1 sshd: {MSG}",  # no pid
        f"Nov 22 15:04:05 web1 sshd-auth[4]: {MSG}",  # not an sshd ident that logs
        f"Nov 22 15:04:05 web1 evil-sshd[4]: {MSG}",
        f"Nov 22 15:04:05 web1 sshd[٤]: {MSG}",  # non-ASCII digits
        f"2026-11-22T15:04:05+00:00 web1 sudo[4]: {MSG}",
        "2026-11-22T15:04:05+00:00 web1 CRON[1]: pam_unix(cron:session): session opened for user root",
        "Nov 22 15:04:05.123456 web1 CRON[1]: pam_unix(cron:session): session opened for user root",
    ],
)
def test_lines_without_the_sshd_tag_are_other_programs(line):
    assert parse(line) == OTHER


@pytest.mark.parametrize(
    "line",
    ["", "hello", "\x00\x01\x02 binary", "Nov 99 15:04:05 web1 sshd[1]: x", "2026-13-45T99:99:99+00:00 web1 sshd[1]: " + MSG,
     f"Nov 22 15:04:05. web1 sshd[1]: {MSG}", f"Nov 22 15:04:05.1234567890 web1 sshd[1]: {MSG}",
     f"Nov 22 15:04:05.12a web1 sshd[1]: {MSG}", f"Nov 22 15:04:05,123 web1 sshd[1]: {MSG}",
     "Nov 22 15:04:05.123456"],
)
def test_malformed(line):
    assert parse(line) == MALFORMED


def test_noise_and_unknown_are_told_apart():
    assert parse("2026-11-22T15:04:05+00:00 web1 sshd[1]: Server listening on 0.0.0.0 port 22.") == NOISE
    assert parse("2026-11-22T15:04:05+00:00 web1 sshd[1]: Brand new message") == UNKNOWN


def test_block_parse_counts_everything():
    text = "\n".join([
        f"2026-11-22T15:04:05+00:00 web1 sshd[1]: {MSG}",
        "2026-11-22T15:04:05+00:00 web1 sshd[1]: Received disconnect from 1.2.3.4 port 5:11: Bye [preauth]",
        "2026-11-22T15:04:05+00:00 web1 CRON[1]: something",
        "2026-11-22T15:04:05+00:00 web1 sshd[1]: Brand new message",
        "garbage",
        "",
    ])
    p = Parser(NOW, UTC, "f")
    events = p.parse_block(text, 10)
    assert [e.source for e in events] == ["f:10"]
    s = p.stats
    assert (s.lines, s.events, s.noise, s.other, s.unknown, s.malformed) == (6, 1, 1, 1, 1, 2)
    assert s.unknown_examples == ["f:13: 2026-11-22T15:04:05+00:00 web1 sshd[1]: Brand new message"]


HOSTILE = "Failed publickey for invalid user x" + " from 1.2.3.4 port 1 ssh2: A (null) ID" * 1700  # 63 KB


@pytest.mark.parametrize("head", [
    "2026-11-22T15:04:05+00:00 web1 sshd[1]: ",  # the fast path
    "Nov 22 15:04:05 web1 sshd[1]: ",
    "<38>1 2026-11-22T15:04:05+00:00 web1 sshd 1 - - ",  # only the general path reads RFC 5424
])
def test_an_sshd_message_longer_than_sshd_writes_is_unknown_at_once(head):
    """sshd cuts its messages at 1 KB; a 63 KB one (anyone can send it with
    `logger`) would make the patterns backtrack for seconds."""
    import time

    p = Parser(NOW, UTC, "f")
    start = time.perf_counter()
    events = p.parse_block(head + HOSTILE, 1)
    took = time.perf_counter() - start
    assert events == [] and p.stats.unknown == 1
    assert took < 0.01, took
    # the bound is far above what sshd writes: a message of 2,000 characters still parses
    user = "u" * (2000 - len("Failed password for invalid user  from 203.0.113.5 port 4 ssh2"))
    e = parse(f"{head}Failed password for invalid user {user} from 203.0.113.5 port 4 ssh2")
    assert (e.kind, e.user, e.ip) == ("failure", user, "203.0.113.5")
