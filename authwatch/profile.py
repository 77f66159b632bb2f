"""No-root mode: lines in the user's login profile that record each SSH login.

`install` adds a block of POSIX shell to the file the user's login shell
reads: for bash the first of ~/.bash_profile, ~/.bash_login and ~/.profile
that exists (bash reads only the first of them, so creating a ~/.bash_profile
would silently stop it reading ~/.profile), else ~/.profile; for zsh
~/.zprofile; for sh, dash and ksh ~/.profile. Other login shells (fish, csh)
read no POSIX shell, and are refused. The block, once per SSH connection
(`$SSH_CONNECTION` set, not already recorded by a parent shell, and not
among the last records: a tmux or screen window opened after re-attaching
carries a connection recorded at its login):

* appends `DATE TIME ZONE IP USER METHOD port=PORT [key=TYPE:KEY]` to
  ~/.ssh_logins (made readable by the user alone): the line people's profile
  hooks already write, with the client port and the key added at the end;
  METHOD (and the key) come from the file $SSH_USER_AUTH names, which sshd
  writes only with `ExposeAuthInfo yes`, else `unknown`;
* starts `authwatch scan --user` in the background, by the absolute path of
  the interpreter that ran `install` (the hosting's Python may be any), so
  the prompt is not delayed.

Installing again replaces the block in place; a file is changed only if its
text changes, and then a copy of the old one is kept beside it.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from authwatch.errors import UserError

CANDIDATES = (".bash_profile", ".bash_login", ".profile")  # bash's, in the order it looks
ZSH = ".zprofile"
POSIX_SHELLS = frozenset({"sh", "dash", "ksh", "ksh93", "mksh", "pdksh", "ash", "busybox", "yash", "posh"})
BLOCK_FILES = (*CANDIDATES, ZSH)  # where install may have put the block
HOOK_FILES = (*BLOCK_FILES, ".bashrc", ".zshrc", ".zlogin", ".kshrc", ".shrc")  # where an older hook may be
LOGINS = ".ssh_logins"
RECENT = 64  # records looked at for the connection of a re-attached tmux or screen
BEGIN = "# >>> authwatch: SSH login alerts (authwatch profile install) >>>"
END = "# <<< authwatch <<<"
_BLOCK = re.compile(rf"^{re.escape(BEGIN)}\n.*?^{re.escape(END)}\n?", re.M | re.S)
_BLOCK_AND_GAP = re.compile(rf"(?:^\n)?{_BLOCK.pattern}", re.M | re.S)  # with the blank line install put before

_SNIPPET = """\
{begin}
# Once per SSH login: append "DATE IP USER METHOD port=PORT [key=TYPE:KEY]" to
# ~/.ssh_logins, then let authwatch look at it in the background. A tmux or screen
# window opened after re-attaching carries a connection already recorded: skipped.
if [ -n "${{SSH_CONNECTION:-}}" ] && [ "${{AUTHWATCH_SEEN:-}}" != "$SSH_CONNECTION" ]; then
    AUTHWATCH_SEEN=$SSH_CONNECTION; export AUTHWATCH_SEEN
    _aw_ip=${{SSH_CONNECTION%% *}} _aw_port=${{SSH_CONNECTION#* }}
    _aw_port=${{_aw_port%% *}}
    if ! tail -n {recent} "$HOME/{logins}" 2>/dev/null |
            awk -v c="$_aw_ip port=$_aw_port" '$4 " " $7 == c {{ f = 1 }} END {{ exit !f }}'; then
        _aw_how= _aw_key=
        if [ -n "${{SSH_USER_AUTH:-}}" ] && [ -r "$SSH_USER_AUTH" ]; then
            while read -r _aw_m _aw_t _aw_k _aw_x; do
                _aw_how=${{_aw_how:+$_aw_how+}}$_aw_m
                [ -n "$_aw_key" ] || [ "$_aw_m" != publickey ] || _aw_key=" key=$_aw_t:$_aw_k"
            done < "$SSH_USER_AUTH"
        fi
        [ -e "$HOME/{logins}" ] || (umask 077; : >> "$HOME/{logins}")
        printf '%s %s %s %s port=%s%s\\n' "$(date '+%Y-%m-%d %H:%M:%S %z')" "$_aw_ip" \\
            "${{USER:-$LOGNAME}}" "${{_aw_how:-unknown}}" "$_aw_port" "$_aw_key" >> "$HOME/{logins}"
        (trap '' HUP; exec {command} scan --user </dev/null >/dev/null 2>&1 &)
    fi
    unset _aw_ip _aw_port _aw_how _aw_key _aw_m _aw_t _aw_k _aw_x
fi
{end}
"""


class Change(NamedTuple):
    file: Path  # the profile file
    changed: bool  # False: it already held this very block (or none to remove)
    backup: Path | None  # the copy of the file as it was, when changed
    created: bool = False  # the file did not exist
    another: tuple[Path, ...] = ()  # files naming ~/.ssh_logins outside the block: another hook writes it


def command() -> list[str]:
    """How the installed lines run authwatch: this interpreter, by its
    absolute path (not resolved: a virtual environment's python is a link)."""
    return [os.path.abspath(sys.executable), "-m", "authwatch"]


def snippet(cmd: Sequence[str]) -> str:
    return _SNIPPET.format(begin=BEGIN, end=END, logins=LOGINS, recent=RECENT, command=shlex.join(cmd))


def crontab_line(cmd: Sequence[str]) -> str:
    return f"* * * * * {shlex.join(cmd)} scan --user"


def login_shell() -> str:
    """The user's login shell, as the password database says."""
    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        return os.environ.get("SHELL") or "/bin/sh"


def target(home: Path, shell: str) -> Path:
    """The profile file a login of `shell` reads: for bash the first of
    CANDIDATES that exists, else ~/.profile."""
    name = os.path.basename(shell)
    if name == "bash":
        for candidate in CANDIDATES:
            if (home / candidate).exists():
                return home / candidate
        return home / ".profile"
    if name == "zsh":
        return home / ZSH
    if name in POSIX_SHELLS:
        return home / ".profile"
    raise UserError(f"your login shell is {shell}, which reads no POSIX shell at login; the lines "
                    "('authwatch profile install --print') are for bash, zsh, ksh, dash and sh")


def check_command(cmd: Sequence[str], home: Path) -> str | None:
    """Why `cmd` would not run from a login shell (None if it runs): tried
    with little more than HOME and the default PATH, as a login has."""
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    try:
        r = subprocess.run([*cmd, "--version"], env=env, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]


def install(home: Path, cmd: Sequence[str], now: datetime, shell: str = "/bin/bash") -> Change:
    """Add (or update) the block in the profile file a login of `shell`
    reads, and make ~/.ssh_logins (readable by the user alone) if it is
    missing."""
    path = target(home, shell)
    logins = home / LOGINS
    try:
        fd = os.open(logins, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o600)
    except OSError as e:
        raise UserError(f"{logins}: cannot open for appending: {e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"{logins}: not a regular file; the lines append one line per login to it")
    finally:
        os.close(fd)
    old = _read(path)
    block = snippet(cmd)
    if old is None:
        new = block
    elif _BLOCK.search(old):
        new = _BLOCK.sub(lambda _: block, old, count=1)
    else:
        _refuse_broken(path, old)
        new = old + ("" if not old or old.endswith("\n") else "\n") + ("\n" if old.strip() else "") + block
    change = _write(path, old, new, now)
    return change._replace(another=_other_hooks(home))


def uninstall(home: Path, now: datetime) -> list[Change]:
    """Take the block out of every profile file that holds it."""
    changes = []
    for name in BLOCK_FILES:
        path = home / name
        old = _read(path)
        if old is not None and _BLOCK.search(old):
            changes.append(_write(path, old, _BLOCK_AND_GAP.sub("", old), now))
    return changes


def _other_hooks(home: Path) -> tuple[Path, ...]:
    """The shell start-up files that name ~/.ssh_logins outside the block."""
    found = []
    for name in HOOK_FILES:
        text = _read(home / name)
        if text is not None and LOGINS in _BLOCK.sub("", text):
            found.append(home / name)
    return tuple(found)


def _refuse_broken(path: Path, text: str) -> None:
    if BEGIN in text or END in text:
        raise UserError(f"{path}: holds only one of authwatch's marker lines ({BEGIN!r}, {END!r}); "
                        "remove the remains of the block by hand, then install again")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror or e}") from None


def _write(path: Path, old: str | None, new: str, now: datetime) -> Change:
    if new == old:
        return Change(path, False, None)
    real = path.resolve()  # a profile kept as a link (dotfile managers) stays one
    backup = None
    try:
        if old is not None:
            backup = _free(real.with_name(f"{real.name}.authwatch-backup-{now:%Y%m%d-%H%M%S}"))
            backup.write_text(old, encoding="utf-8", errors="surrogateescape")
            os.chmod(backup, real.stat().st_mode & 0o7777)
        mode = real.stat().st_mode & 0o7777 if old is not None else 0o644
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(new)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, real)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise UserError(f"{real}: cannot write: {e.strerror or e}") from None
    return Change(path, True, backup, created=old is None)


def _free(path: Path) -> Path:
    """`path`, or `path.N` if that is taken."""
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.{n}"), n + 1
    return candidate
