"""Following one file through rotations of every kind, on real files."""

import gzip
import logging
import os
import shutil
from datetime import timezone

import pytest

from authwatch.sources import file as file_module
from authwatch.sources.file import FileSource
from authwatch.sources.lines import MAX_LINE


def login(port: int, user: str = "alice") -> bytes:
    """One sshd login line; the port makes it unique (and its time too)."""
    return (f"2026-11-22T15:00:00.{port:06d}+00:00 web1 sshd[{port}]: "
            f"Accepted password for {user} from 198.51.100.7 port {port} ssh2\n").encode()


def noise(n: int) -> bytes:
    return f"2026-11-22T15:00:01.{n:06d}+00:00 web1 CRON[9]: pam_unix(cron:session): session closed for user root\n".encode()


def append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


class Follower:
    """A FileSource and what it produced: ports of logins with their source, positions."""

    def __init__(self, path, saved=None, start_at_end=False):
        self.source = FileSource(str(path), saved, timezone.utc, start_at_end=start_at_end)
        self.ports: list[int] = []
        self.sources: list[str] = []
        self.position = None

    def poll(self) -> list[int]:
        new = []
        for batch in self.source.poll():
            for e in batch.events:
                if e.kind == "login":
                    new.append(e.port)
                    self.sources.append(e.source)
            self.position = batch.position
        self.ports += new
        return new

    def restart(self, start_at_end=False):
        """A new process from the last position reported (what the pipeline saves)."""
        self.source.close()
        follower = Follower(self.source.path, self.position, start_at_end)
        follower.ports = self.ports
        return follower


def following(tmp_path, content: bytes) -> tuple:
    """auth.log with `content`, and a Follower that has read it."""
    log = tmp_path / "auth.log"
    log.write_bytes(content)
    f = Follower(log)
    f.poll()
    return log, f


@pytest.fixture
def quick_grace(monkeypatch):
    monkeypatch.setattr(file_module, "GRACE", 0.0)


def test_first_start_begins_at_the_end_of_the_last_complete_line(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1) + login(2) + login(3)[:30])
    f = Follower(log, start_at_end=True)
    assert f.poll() == []
    append(log, login(3)[30:] + login(4))
    assert f.poll() == [3, 4]
    assert f.sources == [f"{log}:3", f"{log}:4"]  # line numbers count the lines skipped


def test_from_start_reads_everything_with_line_numbers(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(noise(1) + login(1) + noise(2) + login(2))
    f = Follower(log)
    assert f.poll() == [1, 2]
    assert f.sources == [f"{log}:2", f"{log}:4"]


def test_a_half_written_line_waits_for_its_end(tmp_path):
    log, f = following(tmp_path, b"")
    line = login(7)
    append(log, line[:40])
    assert f.poll() == []
    assert f.position.offset == 0
    append(log, line[40:])
    assert f.poll() == [7]
    assert f.position.offset == len(line)


def test_rename_and_create_drains_the_old_file_first(tmp_path, quick_grace):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1))
    f = Follower(log)
    assert f.poll() == [1]
    os.rename(log, tmp_path / "auth.log.1")
    append(tmp_path / "auth.log.1", login(2))  # the writer has not reopened yet
    log.write_bytes(login(3))
    assert f.poll() == [2, 3]
    assert f.sources[-2:] == [f"{tmp_path}/auth.log.1:2", f"{log}:1"]
    assert f.position.inode == os.stat(log).st_ino  # the old file is done with
    append(log, login(4))
    assert f.poll() == [4]


def test_two_rotations_between_two_looks_lose_nothing(tmp_path, quick_grace):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1))
    f = Follower(log)
    assert f.poll() == [1]
    append(log, login(2))
    os.rename(log, tmp_path / "auth.log.1")
    log.write_bytes(login(3))  # a whole file written and rotated before authwatch looks again
    os.rename(tmp_path / "auth.log.1", tmp_path / "auth.log.2")
    os.rename(log, tmp_path / "auth.log.1")
    log.write_bytes(login(4))
    assert f.poll() == [2, 3, 4]
    assert f.sources[-3:] == [f"{tmp_path}/auth.log.2:2", f"{tmp_path}/auth.log.1:1", f"{log}:1"]


def test_two_copytruncates_between_two_looks_lose_nothing(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1))
    f = Follower(log)
    assert f.poll() == [1]
    append(log, login(2))
    for content in (login(3), login(4) + login(5)):
        if (tmp_path / "auth.log.1").exists():
            os.rename(tmp_path / "auth.log.1", tmp_path / "auth.log.2")
        shutil.copyfile(log, tmp_path / "auth.log.1")
        with open(log, "r+b") as w:
            w.truncate(0)
        append(log, content)
    assert f.poll() == [2, 3, 4, 5]


def test_the_old_file_stays_open_while_it_may_still_be_written(tmp_path):
    log, f = following(tmp_path, login(1))
    old_inode = os.stat(log).st_ino
    os.rename(log, tmp_path / "auth.log.1")
    log.write_bytes(login(2))
    assert f.poll() == [2]
    assert f.position.inode == old_inode  # a restart would finish the old file first
    append(tmp_path / "auth.log.1", login(3))
    assert f.poll() == [3]


def test_copytruncate_is_caught_even_when_the_file_grew_past_the_old_offset(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1))
    f = Follower(log)
    assert f.poll() == [1]
    append(log, login(2) + login(3))  # written, not read yet
    shutil.copyfile(log, tmp_path / "auth.log.1")
    with open(log, "r+b") as w:
        w.truncate(0)
    append(log, login(4) + login(5) + login(6) + login(7))  # longer than before: only the head tells
    assert f.poll() == [2, 3, 4, 5, 6, 7]


def test_lines_read_between_copy_and_truncate_are_not_read_twice_nor_warned_about(tmp_path, caplog):
    log, f = following(tmp_path, login(1))
    shutil.copyfile(log, tmp_path / "auth.log.1")
    append(log, login(2) + login(3))  # after the copy, before the truncation: in no copy
    assert f.poll() == [2, 3]
    with open(log, "r+b") as w:
        w.truncate(0)
    append(log, login(4))
    with caplog.at_level(logging.WARNING, "authwatch"):
        assert f.poll() == [4]
    assert caplog.text == ""


def test_copytruncate_before_anything_was_read_is_caught_too(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1) + login(2))
    f = Follower(log)  # opened, nothing read yet
    shutil.copyfile(log, tmp_path / "auth.log.1")
    with open(log, "r+b") as w:
        w.truncate(0)
    append(log, login(3) + login(4) + login(5))
    assert f.poll() == [1, 2, 3, 4, 5]


def test_a_restart_finds_a_copy_taken_before_its_last_lines_were_read(tmp_path):
    log, f = following(tmp_path, login(1))
    shutil.copyfile(log, tmp_path / "auth.log.1")  # copytruncate copies ...
    append(log, login(2))
    assert f.poll() == [2]  # ... a line is read ...
    with open(log, "r+b") as w:  # ... it truncates; then authwatch is stopped
        w.truncate(0)
    append(log, login(3))  # and the next rotation happens while it is stopped
    os.rename(tmp_path / "auth.log.1", tmp_path / "auth.log.2")
    shutil.copyfile(log, tmp_path / "auth.log.1")
    with open(log, "r+b") as w:
        w.truncate(0)
    append(log, login(4))
    f = f.restart()
    assert f.poll() == [3, 4]
    assert f.sources[-2:] == [f"{tmp_path}/auth.log.1:1", f"{log}:1"]


def test_copytruncate_with_the_copy_already_compressed(tmp_path):
    log, f = following(tmp_path, login(1))
    append(log, login(2))
    with gzip.open(tmp_path / "auth.log.1.gz", "wb") as gz:
        gz.write(log.read_bytes())
    with open(log, "r+b") as w:
        w.truncate(0)
    append(log, login(3))
    assert f.poll() == [2, 3]


def test_truncation_without_a_copy_is_reported_and_the_new_content_read(tmp_path, caplog):
    log, f = following(tmp_path, login(1) + login(2))
    with open(log, "r+b") as w:
        w.truncate(0)
    append(log, login(3))
    with caplog.at_level(logging.WARNING, "authwatch"):
        assert f.poll() == [3]
    assert "truncated at line 3" in caplog.text and "no rotated copy" in caplog.text


def test_deleted_and_recreated_is_read_from_its_start(tmp_path, quick_grace):
    log, f = following(tmp_path, login(1))
    os.unlink(log)
    assert f.poll() == []
    log.write_bytes(login(2) + login(3))
    assert f.poll() == [2, 3]


def test_a_symlinked_path_follows_its_new_target(tmp_path, quick_grace):
    (tmp_path / "a.log").write_bytes(login(1))
    (tmp_path / "b.log").write_bytes(login(2))
    link = tmp_path / "auth.log"
    link.symlink_to(tmp_path / "a.log")
    f = Follower(link)
    assert f.poll() == [1]
    append(tmp_path / "a.log", login(3))
    assert f.poll() == [3]
    os.unlink(link)
    link.symlink_to(tmp_path / "b.log")
    assert f.poll() == [2]


def test_a_replacement_with_the_same_head_continues_at_the_offset(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1) + login(2))
    f = Follower(log)
    assert f.poll() == [1, 2]
    copy = tmp_path / "auth.log.tmp"
    shutil.copyfile(log, copy)
    append(copy, login(3))
    os.rename(copy, log)  # another inode, same beginning (e.g. sed -i, a restore)
    assert f.poll() == [3]
    assert f.ports == [1, 2, 3]


def test_rotation_while_stopped_finishes_the_old_file_and_every_newer_one(tmp_path):
    log, f = following(tmp_path, login(1))
    append(log, login(2))  # written while authwatch is stopped, then rotated twice
    os.rename(log, tmp_path / "auth.log.1")
    (tmp_path / "auth.log").write_bytes(login(3))
    with gzip.open(tmp_path / "auth.log.2.gz", "wb") as gz:
        gz.write((tmp_path / "auth.log.1").read_bytes())
    os.unlink(tmp_path / "auth.log.1")
    os.rename(log, tmp_path / "auth.log.1")
    log.write_bytes(login(4))
    f = f.restart()
    assert f.poll() == [2, 3, 4]
    assert f.sources[-3:] == [f"{tmp_path}/auth.log.2.gz:2", f"{tmp_path}/auth.log.1:1", f"{log}:1"]


def test_a_restart_resumes_at_the_saved_line(tmp_path):
    log, f = following(tmp_path, login(1) + noise(1))
    append(log, login(2))
    f = f.restart(start_at_end=True)  # a saved position wins over "start at the end"
    assert f.poll() == [2]
    assert f.sources[-1] == f"{log}:3"


def test_when_the_saved_file_is_gone_the_current_one_is_read_from_its_start(tmp_path, caplog):
    log, f = following(tmp_path, login(1))
    os.unlink(log)
    log.write_bytes(login(2))
    with caplog.at_level(logging.WARNING, "authwatch"):
        f = f.restart()
        assert f.poll() == [2]
    assert "is gone and no rotated copy of it was found" in caplog.text


def test_a_reused_inode_with_other_content_is_a_new_file(tmp_path):
    log, f = following(tmp_path, login(1) + login(2))
    with open(log, "r+b") as w:  # same inode, new beginning, longer: like a new file
        w.write(login(3) + login(4) + login(5))
    f = f.restart()
    assert f.poll() == [3, 4, 5]


def test_a_missing_file_is_waited_for_and_read_from_its_start(tmp_path, caplog):
    log = tmp_path / "auth.log"
    with caplog.at_level(logging.WARNING, "authwatch"):
        f = Follower(log, start_at_end=True)
        assert f.poll() == []
        assert f.poll() == []
    assert caplog.text.count("no such file; waiting for it to appear") == 1
    assert f.position.inode is None
    log.write_bytes(login(1))
    assert f.poll() == [1]


def test_an_overlong_line_is_skipped_without_being_held(tmp_path, monkeypatch):
    monkeypatch.setattr(file_module, "BLOCK", 4096)
    log, f = following(tmp_path, login(1))
    append(log, b"x" * (MAX_LINE + 10))
    assert f.poll() == []
    assert f.source.files[-1].skipping
    append(log, b"y" * 100 + b"\n" + login(2))
    assert f.poll() == [2]
    assert f.sources[-1] == f"{log}:3"


def test_nul_holes_left_by_a_crash_do_not_hide_lines(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1) + b"\0" * 300 + login(2))
    f = Follower(log)
    assert f.poll() == [1, 2]


def test_the_last_line_of_a_rotated_file_counts_even_without_a_newline(tmp_path, quick_grace):
    log = tmp_path / "auth.log"
    log.write_bytes(login(1) + login(2).rstrip(b"\n"))  # the writer died mid-line, then rotation
    f = Follower(log)
    assert f.poll() == [1]
    os.rename(log, tmp_path / "auth.log.1")
    log.write_bytes(login(3))
    assert f.poll() == [2, 3]


def test_restarts_while_the_rotated_file_is_kept_open_do_not_read_the_new_file_again(tmp_path):
    """cron runs `scan` every minute: each run is a restart. While the rotated
    file may still be written (it stays open), the saved place must still say
    how far the new file was read, or every scan reads it again from its start
    (and counts its failures again)."""
    path, f = following(tmp_path, login(1))
    os.rename(path, str(path) + ".1")
    append(path, login(2) + login(3))
    assert f.poll() == [2, 3]
    assert len(f.source.files) == 2  # the rotated file may still be written: kept open
    for _ in range(3):  # three scans
        f = f.restart()
        assert f.poll() == []
    append(path, login(4))
    append(str(path) + ".1", login(5))  # a writer that had not reopened yet
    f = f.restart()
    assert sorted(f.poll()) == [4, 5]
    assert sorted(f.ports) == [1, 2, 3, 4, 5]


def kept_open_after_a_rotation(tmp_path):
    """auth.log rotated to auth.log.1 and login 2 read from the new auth.log,
    the rotated file still open (it may be written): the saved position is in
    auth.log.1, and how far auth.log was read rides along in its cursor."""
    path, f = following(tmp_path, login(1))
    os.rename(path, tmp_path / "auth.log.1")
    append(path, login(2))
    assert f.poll() == [2] and len(f.source.files) == 2
    return path, f


def test_stopped_right_after_a_rotation_then_rotated_again_and_the_old_file_deleted_loses_nothing(tmp_path, caplog):
    path, f = kept_open_after_a_rotation(tmp_path)
    append(path, login(3))  # written while stopped, then `rotate 1`: auth.log.1 deleted, auth.log becomes it
    os.unlink(tmp_path / "auth.log.1")
    os.rename(path, tmp_path / "auth.log.1")
    path.write_bytes(login(4))
    with caplog.at_level(logging.INFO, "authwatch"):
        f = f.restart()
        assert f.poll() == [3, 4]  # not 2 again, and 3 not lost
    assert f.sources[-2:] == [f"{tmp_path}/auth.log.1:2", f"{path}:1"]
    assert "finishing" in caplog.text and "no rotated copy" not in caplog.text


def test_stopped_right_after_a_rotation_then_rotated_again_the_newer_file_is_not_read_again(tmp_path):
    path, f = kept_open_after_a_rotation(tmp_path)
    append(path, login(3))
    with gzip.open(tmp_path / "auth.log.2.gz", "wb") as gz:  # delaycompress, then compress
        gz.write((tmp_path / "auth.log.1").read_bytes())
    os.unlink(tmp_path / "auth.log.1")
    os.rename(path, tmp_path / "auth.log.1")
    path.write_bytes(login(4))
    f = f.restart()
    assert f.poll() == [3, 4]  # login 2, read before the stop, is not read again
    assert f.ports == [1, 2, 3, 4]
