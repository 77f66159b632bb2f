"""Real OpenSSH keys and certificates made with ssh-keygen for the hook
tests, and what ssh-keygen itself says of them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

from tests.e2e.conftest import need_programs


class Key(NamedTuple):
    type_name: str  # ssh-ed25519, ssh-rsa-cert-v01@openssh.com, ...
    b64: str
    fingerprint: str  # ssh-keygen -l
    label: str  # ED25519, RSA-CERT, ...

    @property
    def line(self) -> str:
        return f"{self.type_name} {self.b64}"


def make(directory: Path, kind: str, name: str | None = None) -> Key:
    """A new key of `kind` (ed25519, rsa, ecdsa) in `directory`."""
    need_programs("ssh-keygen")
    path = directory / (name or f"id_{kind}")
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "test", "-f", str(path)], check=True,
                   stdin=subprocess.DEVNULL)
    return read(Path(f"{path}.pub"))


def certify(directory: Path, key: Key, ca: Path, key_id: str, serial: int) -> Key:
    """`key` signed by the CA whose private key is `ca`."""
    pub = directory / f"certified-{serial}.pub"
    pub.write_text(key.line + " test\n")
    subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-I", key_id, "-z", str(serial), "-n", "alice", str(pub)],
                   check=True, stdin=subprocess.DEVNULL)
    return read(directory / f"certified-{serial}-cert.pub")


def read(pub: Path) -> Key:
    type_name, b64 = pub.read_text().split()[:2]
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True).stdout
    label = out.rsplit("(", 1)[1].rstrip(")\n")
    return Key(type_name, b64, out.split()[1], label)
