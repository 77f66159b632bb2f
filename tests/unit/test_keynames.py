"""Naming keys from authorized_keys, safely."""

import os
import threading

from authwatch.enrich import keynames
from authwatch.enrich.keynames import KeyNames, fingerprints, parse_line
from tests.loglines import fingerprint

BLOB_A = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))
BLOB_B = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(1, 33))
B64_A = "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
B64_B = "AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
FP_A, FP_B = fingerprint(BLOB_A), fingerprint(BLOB_B)


def write_keys(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_lines_with_options_and_comments():
    assert parse_line(f"ssh-ed25519 {B64_A} alice@laptop") == (BLOB_A, "alice@laptop")
    assert parse_line(f'command="echo a b",no-pty ssh-ed25519 {B64_A} deploy key (CI)') == (BLOB_A, "deploy key (CI)")
    assert parse_line(f'from="10.0.0.0/8" ssh-ed25519 {B64_A}') == (BLOB_A, "")
    assert parse_line("# ssh-ed25519 AAAA comment") is None
    assert parse_line("ssh-ed25519 !!!notbase64 x") is None
    assert parse_line("") is None


def test_fingerprints_as_sshd_logs_them():
    sha, md5 = fingerprints(BLOB_A)
    assert sha == FP_A and len(md5.split(":")) == 16


def test_name_from_the_file_sshd_named(tmp_path):
    keys = write_keys(tmp_path / "ak", f"ssh-ed25519 {B64_B} bob@desk\nssh-ed25519 {B64_A} alice@laptop\n")
    names = KeyNames()
    assert names.name("nobody-here", FP_A, f"{keys}:2") == "alice@laptop"
    assert names.name("nobody-here", FP_B, f"{keys}:1") == "bob@desk"
    md5 = fingerprints(BLOB_A)[1]
    assert names.name("nobody-here", "MD5:" + md5, f"{keys}:2") == "alice@laptop"
    keys.write_text(f"ssh-ed25519 {B64_A} alice@new-laptop\n")  # rewritten: read again
    os.utime(keys, ns=(1, 1))
    assert names.name("nobody-here", FP_A, f"{keys}:1") == "alice@new-laptop"


def test_name_from_the_users_own_authorized_keys(tmp_path, monkeypatch):
    home = tmp_path / "home" / "alice"
    write_keys(home / ".ssh" / "authorized_keys2", f"ssh-ed25519 {B64_A} alice@laptop\n")
    monkeypatch.setattr(keynames.pwd, "getpwnam", lambda user: type("pw", (), {"pw_dir": str(home)}))
    assert KeyNames().name("alice", FP_A, None) == "alice@laptop"


def test_a_forged_location_shows_nothing_of_another_file(tmp_path):
    secret = write_keys(tmp_path / "shadow", "root:$6$secret:19000:0:99999:7:::\n")
    other_key = write_keys(tmp_path / "ak", f"ssh-ed25519 {B64_B} bob@desk\n")
    names = KeyNames()
    assert names.name("x", FP_A, f"{secret}:1") is None
    assert names.name("x", FP_A, f"{other_key}:1") is None  # a key, but not the login's
    assert names.name("x", FP_A, "/etc/passwd:1") is None


def test_fifos_devices_and_huge_files_are_not_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = []
    t = threading.Thread(target=lambda: result.append(KeyNames().name("x", FP_A, f"{fifo}:1")), daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive() and result == [None]
    assert KeyNames().name("x", FP_A, "/dev/zero:1") is None
    big = tmp_path / "big"
    big.write_text(f"ssh-ed25519 {B64_A} alice@laptop\n" + "#" * (keynames.MAX_FILE + 10))
    assert KeyNames().name("x", FP_A, f"{big}:1") is None


def test_long_names_are_cut(tmp_path):
    keys = write_keys(tmp_path / "ak", f"ssh-ed25519 {B64_A} {'x' * 500}\n")
    assert KeyNames().name("x", FP_A, f"{keys}:1") == "x" * keynames.MAX_NAME
