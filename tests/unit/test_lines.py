"""Reading logs as blocks of lines: gzip, CRLF, NUL holes, over-long lines."""

import gzip
import io

import pytest

from authwatch.sources import lines
from authwatch.sources.lines import InputError, check_readable, open_log, text_blocks


def read_all(data: bytes, block: int | None = None, monkeypatch=None) -> list[str]:
    if block is not None:
        monkeypatch.setattr(lines, "BLOCK", block)
    out = []
    for text in text_blocks(io.BytesIO(data)):
        out.extend(text.split("\n"))
    return out


def test_lines_survive_any_block_boundary(monkeypatch):
    data = b"".join(b"line %d with some text\n" % i for i in range(100))
    for block in (1, 7, 64, 4096):
        assert read_all(data, block, monkeypatch) == [f"line {i} with some text" for i in range(100)]


def test_last_line_without_newline_is_kept():
    assert read_all(b"a\nb\nc") == ["a", "b", "c"]


def test_empty_input_yields_nothing():
    assert read_all(b"") == []


def test_crlf_and_nul_holes():
    assert read_all(b"a\r\n\x00\x00\x00b\r\nc\x00\n") == ["a", "b", "c"]


def test_invalid_utf8_is_replaced_not_raised():
    assert read_all(b"caf\xe9 \xff\n") == ["caf\ufffd \ufffd"]


def test_over_long_lines_are_not_held(monkeypatch):
    """A line longer than MAX_LINE that spans blocks is dropped as it is read
    (yielded empty); within a block it is passed on (the parser calls it
    malformed)."""
    monkeypatch.setattr(lines, "MAX_LINE", 100)
    data = b"short\n" + b"x" * 1000 + b"\nafter\n" + b"y" * 5000
    assert read_all(data, 64, monkeypatch) == ["short", "", "after", ""]
    assert read_all(data, 1 << 20, monkeypatch) == ["short", "x" * 1000, "after", ""]  # the unfinished last line is carried


def test_gzip_is_recognised_by_content(tmp_path):
    path = tmp_path / "auth.log.1"  # no .gz suffix
    path.write_bytes(gzip.compress(b"one\ntwo\n"))
    with open_log(str(path)) as f:
        assert list(text_blocks(f)) == ["one\ntwo"]


def test_corrupt_gzip_is_an_input_error(tmp_path):
    path = tmp_path / "auth.log.2.gz"
    path.write_bytes(gzip.compress(b"".join(b"line %d\n" % i for i in range(5000)))[:200])
    with open_log(str(path)) as f, pytest.raises(InputError, match="cannot read"):
        list(text_blocks(f, str(path)))


def test_check_readable(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        check_readable(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="is a directory"):
        check_readable(str(tmp_path))
