"""A throw-away SSH lab for end-to-end tests: real sshd, journald and rsyslogd on loopback.

Everything runs inside a private mount + UTS namespace, so the host is left as it was: no
/dev/log is created on the host, no host user is added, /etc/passwd, /etc/shadow, /etc/pam.d/sshd,
/run, /home and the utmp/wtmp files are private copies (bind mounts) that vanish with the lab.
Needs root (see ``Lab.missing()``) and the Debian packages in ``REQUIRED_PACKAGES``.

Layout inside the namespace
    /dev                 private tmpfs; null, zero, tty, shm, ... are bind-mounted from the host,
                         /dev/pts is a new devpts instance (/dev/ptmx -> pts/ptmx), and
                         ``/dev/log`` is a symlink to journald's ``/run/systemd/journal/dev-log``
    /run                 private tmpfs (``/run/sshd``, ``/run/utmp``, journald's sockets)
    /run/log             <- ``<dir>/jrun`` (volatile journal: ``<dir>/jrun/journal/<machine-id>/``)
    /etc/passwd, group, shadow  <- copies with the lab users added (host users of the same name hidden)
    /etc/pam.d/sshd      <- ``<dir>/etc/pam-sshd`` (Debian's stack + ``pam_extra_lines``)
    /etc/systemd/journald.conf  <- Storage=volatile, ForwardToSyslog=yes, RateLimitBurst=0
    /etc/ssh/sshd_config <- ``<dir>/sshd_config`` (sshd runs as plain ``/usr/sbin/sshd -D``)
    /home                <- ``<dir>/home`` (so users can reach their homes whatever the mode of
                         ``<dir>``'s parents; keys in ``/home/<u>/.ssh/authorized_keys``)
    /var/log/{wtmp,btmp,lastlog}  <- empty copies in ``<dir>/var`` (if they exist on the host)

Daemons (all direct children of the Python process, entered with ``nsenter``, output to
``<dir>/logs/*.out``): ``rsyslogd -n`` reading journald's forward socket and writing auth,authpriv.*
to ``auth.log`` (RSYSLOG_FileFormat, RFC 3339), ``auth-classic.log`` (TraditionalFileFormat) and
``auth-5424.log`` (SyslogProtocol23Format), everything else to ``other.log``;
``systemd-journald`` (in its own network namespace so that it does not subscribe to the host's
kernel audit stream); ``sshd -D`` on 127.0.0.1:<port>. Readiness is polled with deadlines, never
slept for: sshd is ready when it listens and its ``Server listening`` line reached ``auth.log``.

Users (only inside the namespace): ``alice`` (ed25519 key + password ``alice-pw``), ``bob``
(password ``bob-pw`` only), ``carol`` (key + password ``carol-pw``, meant for
``AuthenticationMethods publickey,password`` via ``sshd_extra_config``). UIDs are the first free
ones from 2001 on. Client keys: ``<dir>/keys/<user>_ed25519``. Clients run in the host namespace
and connect over TCP; passwords are typed by ``sshpass``.

API::

    lab = Lab(workdir, *, loglevel="VERBOSE", pam_extra_lines=(), sshd_port=None,
              sshd_extra_config="", hostname=None, openssh_root=None, sftp_server="internal-sftp")
    with lab: ...                         # start() / stop()
    lab.start() -> Lab ; lab.stop()       # stop() is idempotent, also registered with atexit
    lab.dir, lab.port, lab.host ("127.0.0.1"), lab.auth_log, lab.auth_log_classic,
    lab.auth_log_5424, lab.other_log, lab.journal_dir, lab.users[name] -> LabUser,
    lab.ns_pid (the namespace holder), lab.sshd_pid, lab.journald_pid, lab.rsyslogd_pid,
    lab.sshd_version (e.g. (9, 2)), lab.session_ident ("sshd", or "sshd-session" for >= 9.8),
    lab.startup_seconds
    lab.ssh(user, *command, key=None, password=None, method=None, tty=False, input=None,
            options=(), check=True, timeout=20) -> CompletedProcess
    lab.scp(user, src, dst, *, legacy=False, key=None, password=None, options=(),
            check=True, timeout=20)          # remote paths are written ":path" (relative to home)
    lab.sftp(user, batch, *, key=None, password=None, options=(), check=True, timeout=20)
    lab.failed_login(user, password="wrong", *, method="password", timeout=20)
    lab.preauth_close(user=None)          # ssh gives up before authenticating / bare TCP close
    lab.in_namespace(argv, **kw) -> CompletedProcess          # nsenter -t ns_pid -m -u
    lab.forge(ident, message, uid="nobody", gid="nogroup", priority="auth.info")
    lab.set_pam_lines(lines, restart=True, before_sessions=False); lab.restart_sshd(loglevel=None, extra_config=None)
    lab.stop_sshd()                       # SIGTERM the listener only ("Received signal 15")
    lab.wait_for(path, text, timeout=5, count=1) -> str     # poll a log file, returns the line
    lab.journal(*matches) -> list[dict]   # journalctl -D journal_dir -o json [matches]
    lab.wait_for_journal(text, timeout=5, field="MESSAGE") -> dict
    lab.rotate(suffix=".1")               # mv auth*.log to *.1 and SIGHUP rsyslogd (reopen)
    Lab.missing() -> str | None           # why the lab cannot run here, None if it can

``openssh_root`` is an unpacked OpenSSH package tree (``dpkg-deb -x openssh-server_*.deb DIR``, plus
openssh-sftp-server): its ``usr/sbin/sshd`` and ``usr/lib/openssh`` are bind-mounted over the host's
inside the namespace, so e.g. Debian's bookworm-backports 10.0 build runs with Debian 13's paths
(``_EXE=/usr/lib/openssh/sshd-session``). For OpenSSH >= 9.8 the lab sets ``PerSourcePenalties no``
(unless ``sshd_extra_config`` mentions it): the penalties would lock 127.0.0.1 out during tests.
``hostname`` sets the namespace's host name (what journald and rsyslogd write), default: the host's.

``key``/``password`` choose the client side: ``key=None`` means "the user's key if no password was
given". ``password`` alone logs in with ``password`` (``method="keyboard-interactive"`` for PAM's
kbd-interactive); both give ``PreferredAuthentications=publickey,password`` (two factors).
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import grp
import re
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from typing import Iterable, Sequence

REQUIRED_PACKAGES = [
    "openssh-server",       # sshd (/usr/sbin/sshd), Debian's /etc/pam.d/sshd
    "openssh-client",       # ssh, scp, sftp, ssh-keygen
    "openssh-sftp-server",  # sftp-server (internal-sftp needs nothing extra)
    "rsyslog",              # rsyslogd
    "logrotate",            # for rotation tests
    "sshpass",              # types passwords into ssh/scp/sftp
    "systemd",              # /lib/systemd/systemd-journald, journalctl
    "util-linux",           # unshare, nsenter, setpriv (essential, listed for completeness)
    "bsdutils",             # logger (essential)
    "libpam-modules",       # pam_exec, pam_unix
]

JOURNALD = "/lib/systemd/systemd-journald"
HOST = "127.0.0.1"

# SHA-512 crypt hashes (``openssl passwd -6 -salt authwatchlab <password>``)
_USERS = {
    "alice": ("alice-pw", True,
              "$6$authwatchlab$J98GvaSq77QP9NPF5YyTwoWAELFDVpgRHUlRkTOtP1.7qLoPB2wA8rvleFkyTW/.va1s/iZeGEjkQZJWoH9qn/"),
    "bob": ("bob-pw", False,
            "$6$authwatchlab$xbiA8UZo7Eb4dr71FSgVifBVcxntb5dgkjuZYPIctWN0vOcWTWotPABoNF8tshrBQKTWwTgKLqsk.C3X3OP9P1"),
    "carol": ("carol-pw", True,
              "$6$authwatchlab$IeLNDcYXTq.tTISchMF5wIs7sVbk1L7vID.98fmCsRMhrBn66kaerFcWc4cu3DeKCIaqjkg/r7eodYka8hN5M."),
}

_JOURNALD_CONF = """\
[Journal]
Storage=volatile
ForwardToSyslog=yes
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
ReadKMsg=no
RateLimitIntervalSec=0
RateLimitBurst=0
"""

_RSYSLOG_CONF = """\
global(workDirectory="{d}/spool")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="/run/systemd/journal/syslog" RateLimit.Interval="0")
auth,authpriv.* action(type="omfile" file="{d}/auth.log" template="RSYSLOG_FileFormat")
auth,authpriv.* action(type="omfile" file="{d}/auth-classic.log" template="RSYSLOG_TraditionalFileFormat")
auth,authpriv.* action(type="omfile" file="{d}/auth-5424.log" template="RSYSLOG_SyslogProtocol23Format")
*.*;auth,authpriv.none action(type="omfile" file="{d}/other.log" template="RSYSLOG_FileFormat")
"""

# Runs as `unshare -m -u --propagation private sh supervisor.sh LAB` (env LAB_HOSTNAME,
# LAB_OPENSSH_ROOT); sets up the
# private mounts, writes LAB/run/ready and then only holds the namespace (exec sleep).
_SUPERVISOR = r"""#!/bin/sh
set -eu
LAB="$1"; NAME="${LAB_HOSTNAME:-}"; OSSH="${LAB_OPENSSH_ROOT:-}"
if [ -n "$NAME" ]; then hostname "$NAME"; fi
# private /dev: a tmpfs with the few host nodes a login needs, and /dev/log -> journald
mkdir -p "$LAB/run/olddev"
mount --rbind /dev "$LAB/run/olddev"
mount -t tmpfs -o mode=755,nosuid lab-dev /dev
for n in null zero full random urandom tty console shm mqueue hugepages fd stdin stdout stderr core; do
  e="$LAB/run/olddev/$n"
  if [ -L "$e" ]; then cp -P "$e" "/dev/$n"
  elif [ -d "$e" ]; then mkdir "/dev/$n"; mount --rbind "$e" "/dev/$n"
  elif [ -e "$e" ]; then : > "/dev/$n"; mount --bind "$e" "/dev/$n"
  fi
done
umount -l "$LAB/run/olddev"
# a devpts instance of our own: ptys are numbered from pts/0 and /dev/ptmx points into it
mkdir /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 lab-devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
ln -s /run/systemd/journal/dev-log /dev/log
# private /run
mount -t tmpfs -o mode=755,nosuid,nodev lab-run /run
mkdir -p /run/systemd/journal /run/log /run/sshd /run/lock
chmod 755 /run/sshd
mount --bind "$LAB/jrun" /run/log
: > /run/utmp; chgrp utmp /run/utmp 2>/dev/null || true; chmod 664 /run/utmp
# private /etc files and homes
for f in passwd group shadow; do mount --bind "$LAB/etc/$f" "/etc/$f"; done
mount --bind "$LAB/etc/journald.conf" /etc/systemd/journald.conf
mount --bind "$LAB/etc/pam-sshd" /etc/pam.d/sshd
mount --bind "$LAB/sshd_config" /etc/ssh/sshd_config
mount --bind "$LAB/home" /home
for f in wtmp btmp lastlog; do
  if [ -e "/var/log/$f" ]; then mount --bind "$LAB/var/$f" "/var/log/$f"; fi
done
# another OpenSSH build (an unpacked .deb tree) in place of the host's, at the same paths
if [ -n "$OSSH" ]; then
  mount --bind "$OSSH/usr/sbin/sshd" /usr/sbin/sshd
  mount --bind "$OSSH/usr/lib/openssh" /usr/lib/openssh
fi
echo ready > "$LAB/run/ready"
exec sleep infinity
"""


class LabError(RuntimeError):
    pass


@dataclasses.dataclass
class LabUser:
    name: str
    uid: int
    gid: int
    password: str
    key: Path | None          # private key (client side), None for password-only users
    home: Path                # host path of the home directory (/home/<name> inside)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[1] == want and p[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def _poll(pred, timeout: float, what: str, proc_check=None, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if proc_check is not None:
            proc_check()
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


_live_labs: "weakref.WeakSet[Lab]" = weakref.WeakSet()


@atexit.register
def _stop_all():
    for lab in list(_live_labs):
        try:
            lab.stop()
        except Exception:
            pass


class Lab:
    def __init__(self, workdir: Path | str, *, loglevel: str = "VERBOSE",
                 pam_extra_lines: Iterable[str] = (), sshd_port: int | None = None,
                 sshd_extra_config: str = "", hostname: str | None = None,
                 openssh_root: str | Path | None = None, sftp_server: str = "internal-sftp"):
        self.dir = Path(workdir).resolve()
        self.loglevel = loglevel
        self.pam_extra_lines = list(pam_extra_lines)
        self.pam_before_sessions = False
        self.port = sshd_port or 0
        self.sshd_extra_config = sshd_extra_config
        self.hostname = hostname
        self.openssh_root = Path(openssh_root).resolve() if openssh_root else None
        self.sshd_version = self._sshd_version()
        # the syslog ident of per-connection lines: OpenSSH >= 9.8 logs them as sshd-session
        self.session_ident = "sshd-session" if self.sshd_version >= (9, 8) else "sshd"
        self.sftp_server = sftp_server
        self.host = HOST
        self.auth_log = self.dir / "auth.log"
        self.auth_log_classic = self.dir / "auth-classic.log"
        self.auth_log_5424 = self.dir / "auth-5424.log"
        self.other_log = self.dir / "other.log"
        self.journal_dir = self.dir / "jrun" / "journal"
        self.users: dict[str, LabUser] = {}
        self._holder: subprocess.Popen | None = None
        self._sshd: subprocess.Popen | None = None
        self._journald: subprocess.Popen | None = None
        self._rsyslogd: subprocess.Popen | None = None
        self._nsfd: int | None = None
        self._pam_base = ""
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ environment
    @staticmethod
    def missing() -> str | None:
        """Why the lab cannot run on this machine (None if it can)."""
        if os.geteuid() != 0:
            return "the SSH lab needs root"
        need = ["unshare", "nsenter", "setpriv", "logger", "ssh", "scp", "sftp", "ssh-keygen",
                "sshpass", "rsyslogd", "journalctl"]
        gone = [b for b in need if shutil.which(b) is None]
        for p in ("/usr/sbin/sshd", JOURNALD, "/etc/pam.d/sshd", "/etc/systemd/journald.conf"):
            if not os.path.exists(p):
                gone.append(p)
        if gone:
            return "missing: " + ", ".join(gone) + " (apt-get install " + " ".join(REQUIRED_PACKAGES) + ")"
        r = subprocess.run(["unshare", "-m", "-u", "--propagation", "private", "true"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode:
            return "cannot create a mount namespace: " + r.stderr.strip()
        return None

    # ------------------------------------------------------------------ set-up
    def _prepare(self):
        d = self.dir
        for sub in ("etc", "home", "var", "keys", "logs", "run", "jrun", "spool"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for stale in ("run/ready",):
            (d / stale).unlink(missing_ok=True)
        os.chmod(d / "jrun", 0o755)
        (d / "etc/journald.conf").write_text(_JOURNALD_CONF)
        (d / "rsyslog.conf").write_text(_RSYSLOG_CONF.format(d=d))
        for f in ("wtmp", "btmp", "lastlog"):   # empty, with the host file's owner and mode
            (d / "var" / f).write_bytes(b"")
            try:
                st = os.stat(f"/var/log/{f}")
            except FileNotFoundError:
                continue
            os.chown(d / "var" / f, st.st_uid, st.st_gid)
            os.chmod(d / "var" / f, st.st_mode & 0o7777)
        # users: private passwd/group/shadow
        names = set(_USERS)
        passwd = [l for l in Path("/etc/passwd").read_text().splitlines() if l.split(":")[0] not in names]
        group = [l for l in Path("/etc/group").read_text().splitlines() if l.split(":")[0] not in names]
        shadow = [l for l in Path("/etc/shadow").read_text().splitlines() if l.split(":")[0] not in names]
        used_uid = {int(l.split(":")[2]) for l in passwd if l.count(":") >= 3}
        used_gid = {int(l.split(":")[2]) for l in group if l.count(":") >= 3}
        nxt = 2001
        for name, (pw, has_key, crypt) in _USERS.items():
            while nxt in used_uid or nxt in used_gid:
                nxt += 1
            uid = gid = nxt
            used_uid.add(uid); used_gid.add(gid)
            home = d / "home" / name
            (home / ".ssh").mkdir(parents=True, exist_ok=True)
            key = None
            if has_key:
                key = d / "keys" / f"{name}_ed25519"
                if not key.exists():
                    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@lab",
                                    "-f", str(key)], check=True, stdin=subprocess.DEVNULL)
                (home / ".ssh/authorized_keys").write_text(Path(str(key) + ".pub").read_text())
            passwd.append(f"{name}:x:{uid}:{gid}:{name} (authwatch lab):/home/{name}:/bin/bash")
            group.append(f"{name}:x:{gid}:")
            shadow.append(f"{name}:{crypt}:19000:0:99999:7:::")
            for p in (home, home / ".ssh", *home.joinpath(".ssh").iterdir()):
                os.chown(p, uid, gid)
            os.chmod(home, 0o755)
            self.users[name] = LabUser(name, uid, gid, pw, key, home)
        os.chmod(d / "home", 0o755)
        (d / "etc/passwd").write_text("\n".join(passwd) + "\n")
        (d / "etc/group").write_text("\n".join(group) + "\n")
        (d / "etc/shadow").write_text("\n".join(shadow) + "\n")
        os.chmod(d / "etc/passwd", 0o644); os.chmod(d / "etc/group", 0o644)
        os.chmod(d / "etc/shadow", 0o640)
        try:
            os.chown(d / "etc/shadow", 0, grp.getgrnam("shadow").gr_gid)
        except KeyError:
            pass
        self._pam_base = Path("/etc/pam.d/sshd").read_text()
        self._write_pam()
        hk = d / "ssh_host_ed25519_key"
        if not hk.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hk)],
                           check=True, stdin=subprocess.DEVNULL)
        (d / "run/supervisor.sh").write_text(_SUPERVISOR)
        (d / "sshd_config").write_text(self._sshd_config())

    def _sshd_version(self) -> tuple[int, int]:
        sshd = (self.openssh_root / "usr/sbin/sshd") if self.openssh_root else Path("/usr/sbin/sshd")
        try:
            r = subprocess.run([str(sshd), "-V"], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
        except OSError:
            return (0, 0)
        m = re.search(r"OpenSSH_(\d+)\.(\d+)", r.stdout + r.stderr)
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

    def _write_pam(self):
        text = self._pam_base
        if not text.endswith("\n"):
            text += "\n"
        if self.pam_extra_lines:
            added = "# added by the authwatch lab\n" + "".join(l.rstrip("\n") + "\n" for l in self.pam_extra_lines)
            first = re.search(r"^[ \t]*session[ \t]", text, re.M) if self.pam_before_sessions else None
            text = text[:first.start()] + added + text[first.start():] if first else text + added
        # rewrite in place: the bind mount follows the inode, a rename would detach it
        with open(self.dir / "etc/pam-sshd", "w") as f:
            f.write(text)

    def _sshd_config(self) -> str:
        d = self.dir
        lines = [
            f"ListenAddress {HOST}:{self.port}",
            f"HostKey {d}/ssh_host_ed25519_key",
            f"PidFile {d}/run/sshd.pid",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "StrictModes no",
            "UsePAM yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication yes",
            "PermitRootLogin no",
            "UseDNS no",
            "PrintMotd no",
            f"LogLevel {self.loglevel}",
            "SyslogFacility AUTH",
            "ExposeAuthInfo yes",
            "X11Forwarding no",
            f"Subsystem sftp {self.sftp_server} -l INFO",
        ]
        # OpenSSH >= 9.8 would refuse 127.0.0.1 for a while after a few failed or aborted logins
        if self.sshd_version >= (9, 8) and "PerSourcePenalties" not in self.sshd_extra_config:
            lines.append("PerSourcePenalties no")
        text = "\n".join(lines) + "\n"
        if self.sshd_extra_config:
            text += self.sshd_extra_config.rstrip("\n") + "\n"
        return text

    def _spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen:
        out = open(self.dir / "logs" / f"{name}.out", "ab")
        try:
            return subprocess.Popen(["nsenter", "-t", str(self.ns_pid), "-m", "-u", "--", *argv],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.dir, start_new_session=True, env=self._env())
        finally:
            out.close()

    def _env(self) -> dict:
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8", "HOME": str(self.dir), "TERM": "xterm"}

    def _ns_path(self, p: str) -> Path:
        return Path(f"/proc/{self.ns_pid}/root") / p.lstrip("/")

    def _check_alive(self, proc: subprocess.Popen | None, name: str):
        def check():
            if proc is not None and proc.poll() is not None:
                out = (self.dir / "logs" / f"{name}.out")
                tail = out.read_text(errors="replace")[-2000:] if out.exists() else ""
                raise LabError(f"{name} exited with {proc.returncode}: {tail}")
        return check

    def start(self) -> "Lab":
        why = self.missing()
        if why:
            raise LabError(why)
        if self.openssh_root and not ((self.openssh_root / "usr/sbin/sshd").exists()
                                      and (self.openssh_root / "usr/lib/openssh").is_dir()):
            raise LabError(f"{self.openssh_root} has no usr/sbin/sshd and usr/lib/openssh")
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = _free_port()
        self._prepare()
        _live_labs.add(self)
        try:
            out = open(self.dir / "logs" / "supervisor.out", "ab")
            try:
                argv = ["unshare", "-m", "-u", "--propagation", "private",
                        "sh", str(self.dir / "run/supervisor.sh"), str(self.dir)]
                env = self._env()
                env["LAB_HOSTNAME"] = self.hostname or ""
                env["LAB_OPENSSH_ROOT"] = str(self.openssh_root or "")
                self._holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True,
                                                env=env)
            finally:
                out.close()
            _poll(lambda: (self.dir / "run/ready").exists(), 10, "the namespace set-up",
                  self._check_alive(self._holder, "supervisor"))
            self._nsfd = os.open(f"/proc/{self.ns_pid}/ns/mnt", os.O_RDONLY)
            self._rsyslogd = self._spawn("rsyslogd", ["rsyslogd", "-n", "-f", str(self.dir / "rsyslog.conf"),
                                                      "-i", str(self.dir / "run/rsyslogd.pid")])
            _poll(lambda: self._ns_path("/run/systemd/journal/syslog").exists(), 10,
                  "rsyslogd's socket", self._check_alive(self._rsyslogd, "rsyslogd"))
            # own network namespace: keeps journald off the host's kernel audit multicast
            self._journald = self._spawn("journald", ["unshare", "-n", JOURNALD])
            _poll(lambda: self._ns_path("/run/systemd/journal/dev-log").exists(), 10,
                  "journald's dev-log socket", self._check_alive(self._journald, "journald"))
            self._start_sshd()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_sshd(self, timeout: float = 10):
        # rewritten in place (same inode): it is bind-mounted as /etc/ssh/sshd_config
        with open(self.dir / "sshd_config", "w") as f:
            f.write(self._sshd_config())
        marker = f"Server listening on {HOST} port {self.port}."
        before = self._count(self.auth_log, marker)
        # plain `sshd -D` as Debian's ssh.service runs it, so _CMDLINE looks like a real host's
        self._sshd = self._spawn("sshd", ["/usr/sbin/sshd", "-D"])
        check = self._check_alive(self._sshd, "sshd")
        _poll(lambda: _listening(self.port), timeout, f"sshd on port {self.port}", check)
        _poll(lambda: self._count(self.auth_log, marker) > before, timeout,
              f"'{marker}' in {self.auth_log}", check)

    @staticmethod
    def _count(path: Path, text: str) -> int:
        try:
            return path.read_text(errors="replace").count(text)
        except FileNotFoundError:
            return 0

    @property
    def ns_pid(self) -> int:
        if self._holder is None:
            raise LabError("lab not started")
        return self._holder.pid

    @property
    def sshd_pid(self) -> int | None:
        return self._sshd.pid if self._sshd else None

    @property
    def journald_pid(self) -> int | None:
        return self._journald.pid if self._journald else None

    @property
    def rsyslogd_pid(self) -> int | None:
        return self._rsyslogd.pid if self._rsyslogd else None

    # ------------------------------------------------------------------ tear-down
    @staticmethod
    def _terminate(proc: subprocess.Popen | None, timeout: float = 5):
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except ProcessLookupError:
            pass

    def _ns_pids(self) -> list[int]:
        if self._nsfd is None:
            return []
        st = os.fstat(self._nsfd)
        pids = []
        for e in os.listdir("/proc"):
            if not e.isdigit():
                continue
            try:
                s = os.stat(f"/proc/{e}/ns/mnt")
            except OSError:
                continue
            if s.st_ino == st.st_ino and s.st_dev == st.st_dev:
                pids.append(int(e))
        return pids

    @staticmethod
    def _proc_table() -> dict[int, tuple[int, str]]:
        """pid -> (ppid, state)"""
        t = {}
        for e in os.listdir("/proc"):
            if e.isdigit():
                try:
                    with open(f"/proc/{e}/stat") as f:
                        rest = f.read().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                t[int(e)] = (int(rest[1]), rest[0])
        return t

    def _descendants(self, root: int) -> tuple[list[int], dict]:
        t = self._proc_table()
        kids: dict[int, list[int]] = {}
        for pid, (ppid, _) in t.items():
            kids.setdefault(ppid, []).append(pid)
        out, todo = [], list(kids.get(root, []))
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(kids.get(p, []))
        return out, t

    def _end_sessions(self, grace: float = 1.0, timeout: float = 5.0):
        """Let the listener's connection processes finish (grace), then kill them leaves first,
        so that each one is reaped by its own parent instead of becoming an orphan."""
        if self._sshd is None or self._sshd.poll() is not None:
            return
        root = self._sshd.pid
        start = time.monotonic()
        while True:
            desc, t = self._descendants(root)
            live = [p for p in desc if t[p][1] != "Z"]
            if not desc:
                return
            now = time.monotonic()
            if now - start > timeout:
                return
            if live and now - start > grace:
                parents = {t[p][0] for p in live}
                for p in live:
                    if p not in parents:          # a leaf
                        try:
                            os.kill(p, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            time.sleep(0.02)

    def stop_sshd(self):
        """Stop the listener only (logs 'Received signal 15; terminating.'); open sessions go on."""
        self._terminate(self._sshd)

    def stop(self):
        if self._holder is None:
            return
        self._end_sessions()
        self._terminate(self._sshd)
        own = {p.pid for p in (self._holder, self._journald, self._rsyslogd) if p}
        # sessions still open, stray nsenter'd commands
        stray = [p for p in self._ns_pids() if p not in own]
        for p in stray:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while stray and time.monotonic() < deadline:
            stray = [p for p in stray if os.path.exists(f"/proc/{p}") and p in self._ns_pids()]
            time.sleep(0.02)
        self._terminate(self._rsyslogd)
        self._terminate(self._journald)
        self._terminate(self._holder)
        for p in self._ns_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._nsfd is not None:
            os.close(self._nsfd)   # last reference: the namespace and its mounts go away
            self._nsfd = None
        self._holder = self._sshd = self._journald = self._rsyslogd = None
        _live_labs.discard(self)

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ reconfiguration
    def restart_sshd(self, loglevel: str | None = None, extra_config: str | None = None):
        if loglevel is not None:
            self.loglevel = loglevel
        if extra_config is not None:
            self.sshd_extra_config = extra_config
        self._terminate(self._sshd)
        _poll(lambda: not _listening(self.port), 5, f"port {self.port} to be released")
        self._start_sshd()

    def set_pam_lines(self, lines: Iterable[str], restart: bool = True, before_sessions: bool = False):
        """Add `lines` to /etc/pam.d/sshd: at its end, or with `before_sessions`
        above its first `session` line (before pam_env reads ~/.pam_environment)."""
        self.pam_extra_lines = list(lines)
        self.pam_before_sessions = before_sessions
        self._write_pam()
        if restart:
            self.restart_sshd()

    def rotate(self, suffix: str = ".1"):
        """Rename the three auth logs (and other.log) and make rsyslogd reopen its files."""
        for p in (self.auth_log, self.auth_log_classic, self.auth_log_5424, self.other_log):
            if p.exists():
                p.rename(str(p) + suffix)
        os.kill(self.rsyslogd_pid, signal.SIGHUP)

    # ------------------------------------------------------------------ clients
    def _client_argv(self, user: str, key: bool | None, password: str | None,
                     method: str | None) -> tuple[list[str], list[str], dict]:
        """(prefix, ssh -o options, env) for a client run."""
        u = self.users.get(user)
        if key is None:
            key = password is None and u is not None and u.key is not None
        env = self._env()
        opts = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
                "-o", "NumberOfPasswordPrompts=1"]
        prefix: list[str] = []
        methods = []
        if key:
            if u is None or u.key is None:
                raise LabError(f"user {user} has no key")
            opts += ["-i", str(u.key)]
            methods.append("publickey")
        else:
            opts += ["-o", "PubkeyAuthentication=no"]
        if password is not None:
            methods.append(method or "password")
            prefix = ["sshpass", "-e"]
            env["SSHPASS"] = password
        else:
            opts += ["-o", "BatchMode=yes"]
        if method and password is None:
            methods = [method]
        opts += ["-o", "PreferredAuthentications=" + ",".join(methods or ["none"])]
        return prefix, opts, env

    def _run(self, argv, env, input, check, timeout) -> subprocess.CompletedProcess:
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                           env=env, stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise LabError(f"{argv!r} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def ssh(self, user: str, *command: str, key: bool | None = None, password: str | None = None,
            method: str | None = None, tty: bool = False, input: str | None = None,
            options: Sequence[str] = (), check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
        """ssh user@127.0.0.1 [command]. tty=True adds -tt; a shell (no command) with tty and no
        input gets 'exit\\n' on stdin."""
        prefix, opts, env = self._client_argv(user, key, password, method)
        if tty:
            opts.append("-tt")
            if not command and input is None:
                input = "exit\n"
        argv = [*prefix, "ssh", *opts, *options, "-p", str(self.port), f"{user}@{HOST}", *command]
        return self._run(argv, env, input, check, timeout)

    def _remote(self, user: str, p: str) -> str:
        return f"{user}@{HOST}{p}" if p.startswith(":") else p

    def scp(self, user: str, src: str | Path, dst: str | Path, *, legacy: bool = False,
            key: bool | None = None, password: str | None = None, options: Sequence[str] = (),
            check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
        """scp; write the remote side as ':path' (e.g. lab.scp('alice', f, ':up.txt')).
        legacy=True uses scp -O (an exec of 'scp -t/-f'), else the SFTP protocol."""
        prefix, opts, env = self._client_argv(user, key, password, None)
        argv = [*prefix, "scp", "-q", *(["-O"] if legacy else []), *opts, *options, "-P", str(self.port),
                self._remote(user, str(src)), self._remote(user, str(dst))]
        return self._run(argv, env, None, check, timeout)

    def sftp(self, user: str, batch: str, *, key: bool | None = None, password: str | None = None,
             options: Sequence[str] = (), check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
        """sftp with the commands in `batch` (one per line)."""
        prefix, opts, env = self._client_argv(user, key, password, None)
        batchflag = ["-b", "-"] if password is None else []   # -b implies BatchMode (no password)
        argv = [*prefix, "sftp", "-q", *batchflag, *opts, *options, "-P", str(self.port), f"{user}@{HOST}"]
        return self._run(argv, env, batch if batch.endswith("\n") else batch + "\n", check, timeout)

    def failed_login(self, user: str, password: str = "wrong", *, method: str = "password",
                     timeout: float = 20) -> subprocess.CompletedProcess:
        """One wrong password (the client then gives up): 'Failed password for [invalid user] ...'."""
        r = self.ssh(user, "true", key=False, password=password, method=method, check=False, timeout=timeout)
        if r.returncode == 0:
            raise LabError(f"login of {user} with {password!r} unexpectedly succeeded")
        return r

    def preauth_close(self, user: str | None = None, timeout: float = 20):
        """user given: ssh offers nothing it can use and disconnects ('Connection closed by
        authenticating|invalid user U ... [preauth]'); user None: a bare TCP connect that sends a
        version banner and closes."""
        if user is None:
            with socket.create_connection((HOST, self.port), timeout=timeout) as s:
                s.recv(256)
                s.sendall(b"SSH-2.0-authwatch-probe\r\n")
                s.settimeout(timeout)
                try:
                    s.recv(4096)
                except OSError:
                    pass
            return None
        return self.ssh(user, "true", key=False, password=None, method="none", check=False, timeout=timeout)

    # ------------------------------------------------------------------ namespace helpers
    def in_namespace(self, argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 20)
        kw.setdefault("env", self._env())
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(["nsenter", "-t", str(self.ns_pid), "-m", "-u", "--", *argv], **kw)

    def forge(self, ident: str, message: str, uid: str | int = "nobody", gid: str | int = "nogroup",
              priority: str = "auth.info") -> subprocess.CompletedProcess:
        """logger -t IDENT MESSAGE as an unprivileged user, to the lab's /dev/log."""
        return self.in_namespace(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                                  "logger", "-p", priority, "-t", ident, message], check=True)

    # ------------------------------------------------------------------ reading
    def wait_for(self, path: Path | str, text: str, timeout: float = 5, count: int = 1) -> str:
        """Poll `path` until `text` occurs on `count` lines; returns the count-th such line."""
        path = Path(path)

        def found():
            try:
                hits = [l for l in path.read_text(errors="replace").splitlines() if text in l]
            except FileNotFoundError:
                return None
            return hits[count - 1] if len(hits) >= count else None
        return _poll(found, timeout, f"{text!r} in {path}", interval=0.05)

    def journal(self, *matches: str) -> list[dict]:
        r = subprocess.run(["journalctl", "-D", str(self.journal_dir), "-o", "json", "--no-pager", *matches],
                           capture_output=True, text=True, timeout=30)
        if r.returncode not in (0, 1):
            raise LabError(f"journalctl failed: {r.stderr}")
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def wait_for_journal(self, text: str, timeout: float = 5, field: str = "MESSAGE") -> dict:
        def found():
            for e in self.journal():
                v = e.get(field)
                if isinstance(v, str) and text in v:
                    return e
            return None
        return _poll(found, timeout, f"{text!r} in the journal", interval=0.1)
