"""Running the real PAM hook (contrib/pam/authwatch-pam-hook) as pam_exec
does, into a spool directory owned by a stand-in for the service's user."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from tests.conftest import REPO
from tests.e2e.conftest import unavailable

HOOK = REPO / "contrib" / "pam" / "authwatch-pam-hook"
OWNER = "nobody"  # stands in for the service's user


class Run(NamedTuple):
    code: int
    seconds: float
    stderr: str


def owner() -> str:
    """USER:GROUP the hook writes as."""
    pw = pwd.getpwnam(OWNER)
    return f"{OWNER}:{grp.getgrgid(pw.pw_gid).gr_name}"


def make_spool_dir() -> Path:
    """A spool directory the owner alone may write, reachable by it (pytest's
    own temporary directories are root's alone)."""
    if os.geteuid() != 0:
        unavailable("the PAM hook writes as the spool's owner (setpriv): that needs root, as under pam_exec")
    base = Path(tempfile.mkdtemp(prefix="authwatch-spool-", dir="/tmp"))
    os.chmod(base, 0o755)
    spool = base / "spool"
    spool.mkdir()
    pw = pwd.getpwnam(OWNER)
    os.chown(spool, pw.pw_uid, pw.pw_gid)
    os.chmod(spool, 0o700)
    return spool


def remove_spool_dir(spool: Path) -> None:
    shutil.rmtree(spool.parent, ignore_errors=True)


def pam_env(**values: str) -> dict[str, str]:
    """The environment pam_exec gives the hook at a session's opening."""
    env = {"PAM_TYPE": "open_session", "PAM_SERVICE": "sshd", "PAM_USER": "alice", "PAM_RHOST": "203.0.113.5",
           "PAM_TTY": "ssh", "SSH_CONNECTION": "203.0.113.5 50022 192.0.2.1 22", "SSH_AUTH_INFO_0": "password\n"}
    env.update(values)
    return {k: v for k, v in env.items() if v is not None}


def run_hook(spool_file: Path, env: dict[str, str], hook: Path = HOOK, writer: str | None = None) -> Run:
    t0 = time.monotonic()
    r = subprocess.run([str(hook), str(spool_file), writer or owner()], env=env, capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    return Run(r.returncode, time.monotonic() - t0, r.stderr)
