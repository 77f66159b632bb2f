"""The journal source on real journal files (written by systemd-journal-remote,
read by the real journalctl -D): where it starts, where it resumes, what it
does when its saved entry is gone, and when journalctl cannot read."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import timezone

import pytest

from authwatch.event import Event
from authwatch.sources.journal import JournalSource
from authwatch.store import Position
from tests import journals

T = 1795363559_000000  # µs: 2026-11-22 16:05:59 UTC


@pytest.fixture(autouse=True)
def _need_journal_tools():
    journals.need()


def accepted(i: int, micros: int | None = None, **fields) -> dict:
    return journals.sshd(f"Accepted password for alice from 198.51.100.7 port {40000 + i} ssh2",
                         T + i * 1_000_000 + 123 if micros is None else micros, pid=1000 + i, **fields)


def source(tmp_path, saved=None, *, start_at_end=True, follow=False, wake=None, **kw) -> JournalSource:
    return JournalSource("journal:" + str(tmp_path / "j"), str(tmp_path / "j"), saved, timezone.utc,
                         start_at_end=start_at_end, follow=follow, wake=wake, **kw)


def read(src: JournalSource) -> tuple[list[Event], list, Position | None]:
    events, earlier, last = [], [], None
    for batch in src.poll():
        assert batch.journal
        events += batch.events
        earlier += batch.earlier
        last = batch.position
    return events, earlier, last


def ports(events) -> list[int]:
    return [e.port - 40000 for e in events]


def test_first_start_begins_after_the_newest_sshd_entry_and_reads_what_comes(tmp_path):
    journals.write(tmp_path / "j", [accepted(1), accepted(2), journals.other("not sshd", T + 2_500_000)])
    src = source(tmp_path)
    events, earlier, position = read(src)
    assert events == [] and ports(earlier) == [1, 2]  # history: context only
    assert position.cursor and position.offset == T + 2_000_123
    journals.write(tmp_path / "j", [accepted(3), journals.other("cron line", T + 3_500_000), accepted(4)])
    events, _, position = read(src)
    assert ports(events) == [3, 4]
    assert events[0].time.isoformat() == "2026-11-22T16:06:02.000123+00:00"  # to the microsecond
    assert events[0].source == src.key and events[0].kind == "login"
    assert position.offset == T + 4_000_123
    assert read(src)[0] == []  # nothing twice
    src.close()


def test_from_start_reads_everything(tmp_path):
    journals.write(tmp_path / "j", [accepted(1), accepted(2)])
    src = source(tmp_path, start_at_end=False)
    assert ports(read(src)[0]) == [1, 2]
    src.close()


def test_a_restart_resumes_after_the_saved_cursor(tmp_path):
    journals.write(tmp_path / "j", [accepted(1), accepted(2)])
    first = source(tmp_path, start_at_end=False)
    _, _, position = read(first)
    first.close()
    journals.write(tmp_path / "j", [accepted(3)])  # while stopped
    again = source(tmp_path, position)
    events, earlier, _ = read(again)
    assert ports(events) == [3] and ports(earlier) == [1, 2]
    again.close()


def test_a_saved_entry_no_longer_in_the_journal_resumes_at_its_time_with_a_warning(tmp_path, caplog):
    journals.write(tmp_path / "j", [accepted(1), accepted(2)])
    first = source(tmp_path, start_at_end=False)
    assert ports(read(first)[0]) == [1, 2]
    saved = first.position()
    first.close()
    # Vacuumed while stopped: the file holding entry 2 is gone; a newer one
    # holds an older entry (a clock set back), one of the same microsecond, and
    # what came since.
    shutil.rmtree(tmp_path / "j")
    journals.write(tmp_path / "j", [accepted(0), accepted(5, micros=saved.offset), accepted(3), accepted(4)])
    with caplog.at_level(logging.INFO, "authwatch"):
        src = source(tmp_path, saved)
        events, earlier, _ = read(src)
    assert ports(events) == [5, 3, 4]  # from the oldest entry at or after the saved time
    assert ports(earlier) == [0, 5]  # what came before it, for context
    assert "is no longer in the journal" in caplog.text and "2026-11-22T16:06:01.000123+00:00" in caplog.text
    src.close()


def test_an_unreadable_saved_cursor_counts_as_gone(tmp_path, caplog):
    journals.write(tmp_path / "j", [accepted(1), accepted(2)])
    src = source(tmp_path, Position("j", offset=T + 1_500_000, cursor="not a cursor"))
    assert ports(read(src)[0]) == [2]
    assert "no longer in the journal" in caplog.text
    src.close()


def test_following_wakes_the_service_and_reads_new_entries(tmp_path):
    journals.write(tmp_path / "j", [accepted(1)])
    woken = threading.Event()
    src = source(tmp_path, follow=True, wake=woken.set)
    assert read(src)[0] == []  # caught up: the follower runs now
    woken.clear()
    journals.write(tmp_path / "j", [accepted(2), accepted(3)])
    assert woken.wait(5), "journalctl's output did not wake the service"
    events = []
    deadline = time.monotonic() + 5
    while len(events) < 2 and time.monotonic() < deadline:
        events += read(src)[0]
        time.sleep(0.05)
    assert ports(events) == [2, 3]
    src.close()


def test_forged_and_genuine_entries(tmp_path):
    journals.write(tmp_path / "j", [
        journals.sshd("Accepted password for root from 203.0.113.9 port 22 ssh2", T + 1, pid=4242, uid=65534,
                      comm="logger", exe="/usr/bin/logger", claimed_pid=1),
        journals.sshd("Accepted publickey for alice from 198.51.100.7 port 40000 ssh2: ED25519 SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI", T + 2,
                      ident="sshd-session", comm="sshd-session", exe="/usr/lib/openssh/sshd-session"),
    ])
    events = read(source(tmp_path, start_at_end=False))[0]
    assert [e.kind for e in events] == ["forged", "login"]
    assert (events[0].forged.uid, events[0].forged.exe, events[0].user) == (65534, "/usr/bin/logger", "root")


def test_a_missing_directory_is_waited_for(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("authwatch.sources.journal.RETRY", 0.0)
    src = source(tmp_path, start_at_end=False)
    assert read(src)[0] == []
    assert "no such directory" in caplog.text
    journals.write(tmp_path / "j", [accepted(1)])
    assert ports(read(src)[0]) == [1]
    src.close()


def test_without_journalctl_it_says_so_and_goes_on(tmp_path, caplog):
    journals.write(tmp_path / "j", [accepted(1)])
    src = source(tmp_path, program=str(tmp_path / "no-journalctl"))
    assert read(src)[0] == []
    assert "cannot run" in caplog.text and "no-journalctl" in caplog.text
    src.close()


def test_journalctl_failing_is_reported_and_retried(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("authwatch.sources.journal.RETRY", 0.0)
    journals.write(tmp_path / "j", [accepted(1)])
    program = tmp_path / "journalctl"
    program.symlink_to(shutil.which("false"))  # a journalctl that fails, until it is replaced
    src = source(tmp_path, start_at_end=False, follow=True, program=str(program))
    with caplog.at_level(logging.INFO, "authwatch"):
        assert read(src)[0] == [] and read(src)[0] == []
        assert caplog.text.count("failed (status 1)") == 1  # once, not at every retry
        program.unlink()
        program.symlink_to(shutil.which("journalctl"))
        assert ports(read(src)[0]) == [1]
    assert "reading the journal again" in caplog.text
    src.close()


def test_an_sshd_entry_of_unknown_shape_is_said_and_a_login_like_one_loudly(tmp_path, caplog):
    journals.write(tmp_path / "j", [accepted(1)])  # history: the first start begins after it
    src = source(tmp_path)
    read(src)
    journals.write(tmp_path / "j", [journals.sshd("Accepted password for bob from 1.2.3.78 port 22 ssh2 extra",
                                                  T + 5_000_000, pid=1078), accepted(6)])
    with caplog.at_level(logging.WARNING, "authwatch"):
        events, _, _ = read(src)
    assert ports(events) == [6]
    assert "a login may have been missed" in caplog.text and "Accepted password for bob" in caplog.text
    src.close()
