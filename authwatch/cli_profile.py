"""`authwatch profile`: the no-root mode's lines in the login profile.
Arguments in, printing out; the work is in profile.py, usermode.py and the
follower."""

from __future__ import annotations

import argparse
import os
import textwrap
from datetime import datetime
from pathlib import Path

from authwatch import config, errors, profile, usermode
from authwatch.console import warn
from authwatch.errors import UsageError, UserError
from authwatch.learning import learn
from authwatch.sources import configured
from authwatch.store import Store

_STARTER = """\
# authwatch in no-root mode (written by 'authwatch profile install'). Every key is described in
# rules.example.yaml, in authwatch's sources. Say where alerts go, for example:
# targets:
#   me: "sendmail://you@example.com"          # through the host's own mail program
#   me: "mailtos://you:${SMTP_PASSWORD}@smtp.example.com?to=you@example.com"
sources: [profile]    # ~/.ssh_logins, which the lines in your login profile append to
"""

BLIND_SPOTS = (
    "A profile hook sees only logins that start a login shell. It cannot see SCP or SFTP transfers, "
    "'ssh host command' (no login shell), or, unless the administrator set 'ExposeAuthInfo yes' in "
    "sshd_config, how the user authenticated ('unknown'). A PAM hook or the system's logs see all of them "
    "(they need root)."
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="no root: record SSH logins from your login profile, alert with 'scan --user'",
        description="\n\n".join(textwrap.fill(t, 79) for t in (
            "For an account without root (shared hosting): a few lines in your login profile append each SSH "
            "login to ~/.ssh_logins (the 'DATE IP USER METHOD' lines such hooks already write, with the client "
            "port and key added) and start 'authwatch scan --user' in the background, which alerts through the "
            "targets of ~/.config/authwatch/config.yaml. A cron line, printed by 'install', is the safety net.",
            BLIND_SPOTS,
        )),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub_p = p.add_subparsers(title="commands", metavar="COMMAND")
    install = sub_p.add_parser(
        "install",
        help="add the lines to your login profile (again: update them), and note the logins already recorded",
        description="\n\n".join(textwrap.fill(t, 79) for t in (
            "Add the lines to the file your login shell reads: for bash the first of ~/.bash_profile, "
            "~/.bash_login and ~/.profile that exists (bash reads only that one), or a new ~/.profile: never a "
            "new ~/.bash_profile, which would stop bash reading ~/.profile; for zsh ~/.zprofile; for sh, dash "
            "and ksh ~/.profile. Run again, it updates them in place; a changed file is backed up beside itself "
            "first. The lines act only in SSH sessions, once per connection (a tmux or screen window opened "
            "after re-attaching is not a new login), and run this very interpreter by its absolute path.",
            "Then it makes ~/.ssh_logins (mode 0600) and ~/.config/authwatch/config.yaml if they are missing "
            "($AUTHWATCH_CONFIG names another configuration), notes the logins ~/.ssh_logins already holds so "
            "they never alert (the next login is the first alert) and learns them into history (a login from an "
            "address you used before is not new), and prints the crontab line.",
        )),
        epilog="examples:\n  authwatch profile install\n  authwatch profile install --print   # show the lines only",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    install.add_argument("--print", action="store_true", help="print the lines and the crontab line; change nothing")
    install.set_defaults(func=_install)
    uninstall = sub_p.add_parser("uninstall", help="take the lines out of your login profile (backed up first)",
                                 description="Remove the lines 'install' added, keeping a copy of the file as "
                                 "it was. ~/.ssh_logins, the configuration and the state are left alone.")
    uninstall.set_defaults(func=_uninstall)
    p.set_defaults(func=lambda _args: p.print_help() or errors.USAGE)


def _home() -> Path:
    home = os.environ.get("HOME")
    if not home or not os.path.isdir(home):
        raise UsageError("$HOME is not set to a directory")
    return Path(home)


def _install(args: argparse.Namespace) -> int:
    cmd = profile.command()
    if args.print:
        print(profile.snippet(cmd), end="")
        print(f"\n# crontab -e:\n{profile.crontab_line(cmd)}")
        return errors.OK
    home = _home()
    settings = usermode.load()  # a broken configuration is said before anything changes
    for w in settings.warnings:
        warn(w)
    why = profile.check_command(cmd, home)
    if why:
        raise UserError(f"{' '.join(cmd)} does not run from a login shell ({why}); install authwatch where a "
                        "login can run it, then run 'install' with that interpreter")
    change = profile.install(home, cmd, datetime.now(), profile.login_shell())
    if change.changed:
        print(f"{'made' if change.created else 'updated'} {change.file}: the authwatch lines are in"
              + (f" (the file as it was: {change.backup})" if change.backup else ""))
    else:
        print(f"{change.file}: the authwatch lines are in already; nothing changed")
    for other in change.another:
        warn(f"{other} names ~/{profile.LOGINS} outside authwatch's lines: if an earlier hook there appends "
             "to it, remove that one, or each login is written (and alerted) twice")
    logins = home / profile.LOGINS
    if logins.stat().st_mode & 0o077:
        warn(f"{logins} may be read by others (mode {logins.stat().st_mode & 0o777:04o}): 'chmod 600 {logins}' "
             "keeps the addresses you log in from to yourself")
    if settings.file is None:
        _starter(Path(config.user_config_path()))
        settings = usermode.load()
    _seed(settings)
    if settings.targets:
        print(f"alerts go to: {', '.join(settings.targets)} (as {settings.file} says)")
    else:
        warn(f"no targets in {settings.file or config.user_config_path()}: alerts are only kept, never sent; "
             "add one there")
    print("add this line to your crontab ('crontab -e'), so that an alert whose sending failed is sent later:")
    print(profile.crontab_line(cmd))
    print("\n" + textwrap.fill(BLIND_SPOTS, 79))
    return errors.OK


def _starter(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_STARTER)
    print(f"made {path}: add your targets there")


def _seed(settings) -> None:
    """Note what ~/.ssh_logins holds now: those logins never alert."""
    from authwatch.service import Service

    service = Service(settings, scan=True, lock_wait=10.0)
    if not service.open():
        print("another authwatch is reading ~/.ssh_logins right now; it notes what is there")
        return
    try:
        fresh = [key for key in service.sources if service.store.position(key) is None]
        queued = service.scan()
    finally:
        service.close()
    if fresh:
        # so that the next login from a known address is not called new
        profiles = {hooked[1] for hooked in map(configured.hook_entry, settings.sources)
                    if hooked and hooked[0] == configured.PROFILE}
        with Store(settings.state) as store:  # ~/.ssh_logins as such, even if its first line is not understood
            learned = learn(settings, store, fresh, fmt="ssh-logins" if set(fresh) <= profiles else "auto")
        for problem in learned.failures:
            warn(problem)
        n, bad = learned.logins, learned.stats.malformed
        said = (f"{n} login{'s' if n != 1 else ''} recorded before now; {'they' if n != 1 else 'it'} will not "
                f"alert, and history knows {'them' if n != 1 else 'it'}") if n else "no login recorded yet"
        print(f"{', '.join(fresh)}: {said}"
              + (f" ({bad} line{'s' if bad != 1 else ''} not understood, skipped)" if bad else ""))
    if queued:
        print(f"{queued} login{'s' if queued != 1 else ''} recorded since the last scan will alert at the next one")


def _uninstall(args: argparse.Namespace) -> int:
    changes = profile.uninstall(_home(), datetime.now())
    for change in changes:
        print(f"removed the authwatch lines from {change.file} (the file as it was: {change.backup})")
    if not changes:
        print("no authwatch lines in " + ", ".join(f"~/{n}" for n in profile.BLOCK_FILES) + "; nothing changed")
    print("remove the crontab line too ('crontab -e'): " + profile.crontab_line(profile.command()))
    return errors.OK
