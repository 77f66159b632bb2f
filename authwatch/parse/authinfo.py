"""How a user authenticated, as sshd tells it outside the log.

sshd puts the same text in the PAM environment as SSH_AUTH_INFO_0 (always,
read by the PAM hook) and, with `ExposeAuthInfo yes`, in the file named by
$SSH_USER_AUTH (read by the profile hook): one line per method that
succeeded, in order, the key in full where there is one:

    publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO29ug39...
    password
    keyboard-interactive/pam

The log names a key by its fingerprint (SHA256 of the key's blob, base64
without padding) and a certificate by its ID, serial and CA, so the same are
computed here from the key: a login reported by a hook alone carries what
the log would have said, and is joined on the same terms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from typing import NamedTuple

from authwatch.event import Cert

_METHOD = re.compile(r"[a-z][a-z0-9@.-]{0,63}(?:/[a-z0-9@.-]{1,63})?", re.ASCII)
_CERT_SUFFIX = "-cert-v01@openssh.com"
# Plain key type -> (name sshd logs, number of SSH wire fields after the type name)
_TYPES = {
    "ssh-ed25519": ("ED25519", 1),
    "ssh-rsa": ("RSA", 2),
    "ssh-dss": ("DSA", 4),
    "ecdsa-sha2-nistp256": ("ECDSA", 2),
    "ecdsa-sha2-nistp384": ("ECDSA", 2),
    "ecdsa-sha2-nistp521": ("ECDSA", 2),
    "sk-ssh-ed25519@openssh.com": ("ED25519-SK", 2),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("ECDSA-SK", 3),
}
MAX_TEXT = 16 * 1024  # more than sshd writes for any key or certificate


class AuthInfo(NamedTuple):
    methods: tuple[str, ...] = ()  # in order; the last completed the login
    key: str | None = None  # "SHA256:..." of the publickey (or hostbased) factor's key
    key_type: str | None = None  # "ED25519", "RSA-CERT", ...
    cert: Cert | None = None


class Key(NamedTuple):
    key_type: str
    fingerprint: str
    cert: Cert | None


def parse(text: str) -> AuthInfo:
    """SSH_AUTH_INFO_0 or the $SSH_USER_AUTH file's text. Lines that are not
    a method (anything odd) are left out; never raises."""
    methods: list[str] = []
    found: Key | None = None
    for line in text[:MAX_TEXT].splitlines():
        words = line.split()
        if not words or not _METHOD.fullmatch(words[0]):
            continue
        methods.append(words[0])
        if found is None and words[0] in ("publickey", "hostbased") and len(words) >= 3:
            found = key(words[1], words[2])
    if found is None:
        return AuthInfo(tuple(methods))
    return AuthInfo(tuple(methods), found.fingerprint, found.key_type, found.cert)


def key(type_name: str, b64: str) -> Key | None:
    """The fingerprint and type (and a certificate's ID, serial and CA) of a
    public key as `ssh-ed25519 AAAA...` writes it; None if it is not one."""
    try:
        blob = base64.b64decode(b64, validate=True)
        wire = _Wire(blob)
        name = wire.text()
    except (binascii.Error, ValueError):
        return None
    if name != type_name:
        return None
    try:
        if not name.endswith(_CERT_SUFFIX):
            if name in _TYPES:
                return Key(_TYPES[name][0], fingerprint(blob), None)
            return None
        return _certificate(name, wire)
    except ValueError:
        return None


def fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _certificate(name: str, wire: _Wire) -> Key | None:
    """An OpenSSH certificate (PROTOCOL.certkeys): its key's fingerprint is
    that of the plain key inside it, as sshd logs it."""
    plain = name[: -len(_CERT_SUFFIX)]
    if plain.startswith("sk-"):
        plain += "@openssh.com"
    if plain not in _TYPES:
        return None
    label, fields = _TYPES[plain]
    wire.string()  # nonce
    start = wire.at
    for _ in range(fields):
        wire.string()
    plain_blob = _string(plain.encode()) + wire.data[start : wire.at]
    serial = wire.uint64()
    wire.uint32()  # user or host certificate
    key_id = wire.text()
    wire.string()  # principals
    wire.uint64(), wire.uint64()  # valid after, valid before
    wire.string(), wire.string(), wire.string()  # critical options, extensions, reserved
    ca_blob = wire.string()
    ca_name = _Wire(ca_blob).text()
    ca_label = _TYPES[ca_name][0] if ca_name in _TYPES else "UNKNOWN"  # the name is the client's to choose
    return Key(label + "-CERT", fingerprint(plain_blob), Cert(key_id, serial, ca_label, fingerprint(ca_blob)))


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Wire:
    """Reading SSH wire format (RFC 4251); ValueError past the end."""

    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def uint32(self) -> int:
        return struct.unpack(">I", self._take(4))[0]

    def uint64(self) -> int:
        return struct.unpack(">Q", self._take(8))[0]

    def string(self) -> bytes:
        return self._take(self.uint32())

    def text(self) -> str:
        return self.string().decode("utf-8", "replace")
