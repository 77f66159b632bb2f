"""SSH_AUTH_INFO_0 / $SSH_USER_AUTH: methods, and the key's fingerprint,
type and certificate exactly as ssh-keygen (and so sshd's log) gives them."""

from __future__ import annotations

import subprocess

import pytest

from authwatch.event import Cert
from authwatch.parse import authinfo
from tests.hooks import keys


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_a_key_gets_the_fingerprint_and_type_ssh_keygen_gives(tmp_path, kind):
    key = keys.make(tmp_path, kind)
    info = authinfo.parse(f"publickey {key.line}\n")
    assert info == authinfo.AuthInfo(("publickey",), key.fingerprint, key.label, None)


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_a_certificate_gives_its_key_id_serial_and_ca_as_sshd_logs_them(tmp_path, kind):
    ca = keys.make(tmp_path, "ed25519", "ca")
    plain = keys.make(tmp_path, kind)
    cert = keys.certify(tmp_path, plain, tmp_path / "ca", "ci runner 17", 42)
    listed = subprocess.run(["ssh-keygen", "-L", "-f", str(tmp_path / "certified-42-cert.pub")],
                            capture_output=True, text=True, check=True).stdout
    assert "Serial: 42" in listed and 'Key ID: "ci runner 17"' in listed and ca.fingerprint in listed
    info = authinfo.parse(f"publickey {cert.line}\n")
    # sshd logs a certificate by the fingerprint of the key inside it
    assert (info.key, info.key_type) == (plain.fingerprint, plain.label + "-CERT") == (cert.fingerprint, cert.label)
    assert info.cert == Cert("ci runner 17", 42, "ED25519", ca.fingerprint)


def test_every_factor_of_a_multi_factor_login_in_order_and_the_key_of_the_publickey_one(tmp_path):
    key = keys.make(tmp_path, "ed25519")
    info = authinfo.parse(f"publickey {key.line}\npassword\n")
    assert info.methods == ("publickey", "password")
    assert info.key == key.fingerprint
    assert authinfo.parse("keyboard-interactive/pam\n") == authinfo.AuthInfo(("keyboard-interactive/pam",))
    assert authinfo.parse("password") == authinfo.AuthInfo(("password",))


@pytest.mark.parametrize("text", [
    "", "\n\n", "\x1b[31mred\n", "publickey ssh-ed25519 not*base64\n", "publickey ssh-ed25519\n",
    "publickey ssh-ed25519 AAAA\n", "publickey ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIO29ug39EnEIhLQbnCw7u2uEkN2HeWJO556YAACxNmdn\n",
    "publickey ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t\n",
    "x" * 100_000,
])
def test_anything_else_gives_no_key_and_never_raises(text):
    info = authinfo.parse(text)
    assert info.key is None and info.cert is None
    assert all(m in ("publickey",) for m in info.methods)  # only real method names are kept


def test_a_certificate_signed_by_a_made_up_ca_type_names_none_of_its_text():
    """A certificate's CA type name is whatever the client's CA wrote: it
    must not reach a terminal or a message (escape sequences, CRLF)."""
    import base64
    import struct

    def s(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    hostile = b"ssh-ed25519\x1b]0;PWNED\x07\r\nBcc: x@example.com"
    blob = (s(b"ssh-ed25519-cert-v01@openssh.com") + s(b"n" * 32) + s(b"k" * 32) + struct.pack(">Q", 7)
            + struct.pack(">I", 1) + s(b"id") + s(b"") + struct.pack(">QQ", 0, 2**64 - 1) + s(b"") + s(b"") + s(b"")
            + s(s(hostile) + s(b"c" * 32)) + s(b"sig"))
    key = authinfo.key("ssh-ed25519-cert-v01@openssh.com", base64.b64encode(blob).decode())
    assert key is not None and key.cert.ca_key_type == "UNKNOWN" and key.cert.serial == 7
