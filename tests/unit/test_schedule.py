"""Weekly windows (quiet hours, the `time` condition): across midnight, on
chosen weekdays, and through the clock changes of Europe/London."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from authwatch.rules.schedule import Schedule, covers_the_week, parse_clock, parse_days, window

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
MON_FRI_NIGHTS = window(parse_days("mon-fri"), parse_clock("22:00"), parse_clock("07:00"))
WEEKEND = window(parse_days(["sat", "sun"]), None, None)


def local(text: str, tz=LONDON) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("text, days", [
    ("mon-fri", {0, 1, 2, 3, 4}),
    ("fri-mon", {4, 5, 6, 0}),
    (["sat", "sun"], {5, 6}),
    ("mon,wed, Friday", {0, 2, 4}),
    ("daily", set(range(7))),
    ("SUN", {6}),
])
def test_days(text, days):
    assert parse_days(text) == days


@pytest.mark.parametrize("bad, said", [("mon-fry", "unknown day 'fry'"), (7, "expected days"), ("", "expected days")])
def test_bad_days(bad, said):
    with pytest.raises(ValueError, match=said):
        parse_days(bad)


@pytest.mark.parametrize("bad", ["7", "25:00", "07:60", 700, "24:00"])
def test_bad_clock(bad):
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock(bad)
    assert parse_clock("24:00", midnight=True) == 1440


def test_from_equal_to_is_refused():
    with pytest.raises(ValueError, match="the same time"):
        window(frozenset({0}), 600, 600)


def test_overnight_windows_belong_to_their_start_day():
    q = Schedule([MON_FRI_NIGHTS, WEEKEND], LONDON)
    # 2026-11-16 is a Monday.
    assert not q.contains(local("2026-11-16T03:00"))  # Monday early: Sunday has no 22:00 window...
    assert not q.contains(local("2026-11-16T21:59"))
    assert q.contains(local("2026-11-16T22:00"))  # Monday night
    assert q.contains(local("2026-11-17T06:59:59"))  # ...ending Tuesday morning
    assert not q.contains(local("2026-11-17T07:00"))
    assert q.contains(local("2026-11-20T23:30"))  # Friday night
    assert q.contains(local("2026-11-21T06:00"))  # Saturday: Friday's window and the weekend
    assert q.contains(local("2026-11-22T12:00"))  # Sunday, all day
    assert q.contains(local("2026-11-22T23:59"))
    assert not q.contains(local("2026-11-23T00:00"))  # Monday again


def test_windows_are_judged_in_the_configured_zone():
    q = Schedule([window(parse_days("daily"), parse_clock("22:00"), parse_clock("07:00"))], ZoneInfo("Asia/Tokyo"))
    assert q.contains(utc("2026-11-16T14:00"))  # 23:00 in Tokyo
    assert not q.contains(utc("2026-11-16T03:00"))  # 12:00 in Tokyo


def test_the_end_of_quiet_hours_chains_windows_that_touch():
    q = Schedule([MON_FRI_NIGHTS, WEEKEND], LONDON)
    assert q.end(local("2026-11-17T01:00")) == utc("2026-11-17T07:00")
    # Friday 23:00 -> Saturday 07:00 overlaps the weekend, which runs to Monday 00:00.
    assert q.end(local("2026-11-20T23:00")) == utc("2026-11-23T00:00")
    assert q.end(local("2026-11-18T12:00")) == utc("2026-11-18T12:00")  # not quiet: now
    assert q.next_start(local("2026-11-18T12:00")) == utc("2026-11-18T22:00")


def test_spring_forward_night_is_an_hour_shorter():
    """Clocks go forward at 01:00 GMT on Sunday 29 March 2026."""
    q = Schedule([window(parse_days("sat"), parse_clock("22:00"), parse_clock("07:00"))], LONDON)
    start = q.next_start(utc("2026-03-28T12:00"))
    end = q.end(utc("2026-03-28T23:00"))
    assert start == utc("2026-03-28T22:00")  # 22:00 GMT
    assert end == utc("2026-03-29T06:00")  # 07:00 BST
    assert end - start == timedelta(hours=8)
    assert q.contains(utc("2026-03-29T05:59"))  # 06:59 BST
    assert not q.contains(utc("2026-03-29T06:00"))


def test_fall_back_night_is_an_hour_longer():
    """Clocks go back at 02:00 BST on Sunday 25 October 2026."""
    q = Schedule([window(parse_days("sat"), parse_clock("22:00"), parse_clock("07:00"))], LONDON)
    start = q.next_start(utc("2026-10-24T12:00"))
    end = q.end(utc("2026-10-25T01:30"))  # inside the repeated hour
    assert start == utc("2026-10-24T21:00")  # 22:00 BST
    assert end == utc("2026-10-25T07:00")  # 07:00 GMT
    assert end - start == timedelta(hours=10)
    assert q.contains(utc("2026-10-25T00:30")) and q.contains(utc("2026-10-25T01:30"))  # 01:30 twice
    assert not q.contains(utc("2026-10-25T07:00"))


def test_a_window_ending_in_the_skipped_hour_ends_when_the_clock_jumps():
    q = Schedule([window(parse_days("sat"), parse_clock("23:00"), parse_clock("01:30"))], LONDON)
    assert q.end(utc("2026-03-28T23:30")) == utc("2026-03-29T01:30")  # 01:30 "GMT" is 02:30 BST


def test_a_window_ending_in_the_repeated_hour_ends_at_its_first_reading():
    q = Schedule([window(parse_days("sat"), parse_clock("23:00"), parse_clock("01:30"))], LONDON)
    assert q.end(utc("2026-10-24T23:00")) == utc("2026-10-25T00:30")  # 01:30 BST


def test_next_clock_skips_times_inside_the_windows():
    q = Schedule([MON_FRI_NIGHTS], LONDON)
    eight = [parse_clock("08:00")]
    assert q.next_clock(eight, local("2026-11-16T09:00")) == utc("2026-11-17T08:00")
    early = [parse_clock("06:00"), parse_clock("12:00")]
    assert q.next_clock(early, local("2026-11-16T09:00")) == utc("2026-11-16T12:00")
    assert q.next_clock(early, local("2026-11-16T13:00")) == utc("2026-11-17T12:00")  # 06:00 is quiet


def test_a_week_fully_covered_is_recognised():
    assert covers_the_week([window(parse_days("daily"), None, None)])
    assert covers_the_week([window(parse_days("mon-fri"), None, None), WEEKEND])
    assert not covers_the_week([MON_FRI_NIGHTS, WEEKEND])
    assert Schedule([window(parse_days("daily"), None, None)], LONDON).end(utc("2026-11-16T12:00")) is None
