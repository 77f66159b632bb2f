"""sshd lines of unknown shape are said by `run` and `scan`, not dropped in
silence: once at first, then at most hourly with a count."""

import logging

from authwatch.service import Service
from authwatch.sources import unknown
from tests.running import Running, settings_for
from tests.unit.test_file_source import append, login

ODD_LOGIN = b"2026-11-22T16:05:59.1+00:00 web1 sshd[78]: Accepted password for bob from 1.2.3.78 port 22 ssh2 extra\n"
ODD = b"2026-11-22T16:06:00.1+00:00 web1 sshd[79]: Frobnicated the \x1b[31mwidget\n"


def said(caplog, level=None):
    return [r for r in caplog.records if "unknown shape" in r.getMessage() and (level is None or r.levelno == level)]


def test_run_says_an_unknown_login_line_as_an_error_with_where_and_what(tmp_path, caplog):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, [str(log)]) as r:
        append(log, login(1) + ODD_LOGIN)
        r.wait_for([1])
        append(log, login(2))
        r.wait_for([1, 2])
    [record] = said(caplog)
    assert record.levelno == logging.ERROR
    text = record.getMessage()
    assert "a login may have been missed" in text
    assert f"{log}:2: " + ODD_LOGIN.decode().rstrip("\n") in text


def test_run_says_the_first_unknown_line_then_counts_the_others(tmp_path, caplog, monkeypatch):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    with caplog.at_level(logging.INFO, "authwatch"), Running(tmp_path, [str(log)]) as r:
        append(log, ODD + login(1))
        r.wait_for([1])
        for port in (2, 3):  # each in a poll of its own
            append(log, ODD + ODD + login(port))
            r.wait_for(list(range(1, port + 1)))
        assert len(said(caplog)) == 1  # within the hour: counted, not said
        monkeypatch.setattr(unknown, "INTERVAL", 0.0)
        append(log, login(4))
        r.wait_for([1, 2, 3, 4])
    first, summary = said(caplog, logging.WARNING)
    assert f"{log}:1: 2026-11-22T16:06:00.1+00:00 web1 sshd[79]: Frobnicated the \\x1b[31mwidget" in first.getMessage()
    assert "(4 such lines since the last warning" in summary.getMessage()
    assert f"{log}:3: " in summary.getMessage()  # the first of them
    assert not said(caplog, logging.ERROR)


def test_scan_says_unknown_lines_too(tmp_path, caplog):
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    settings, _ = settings_for(tmp_path, [str(log)])
    with Service(settings, scan=True) as service:
        service.scan()  # the first scan starts at the end
        append(log, ODD_LOGIN + login(1))
        with caplog.at_level(logging.INFO, "authwatch"):
            assert service.scan() == 1
    [record] = said(caplog, logging.ERROR)
    assert f"{log}:1: " in record.getMessage()
