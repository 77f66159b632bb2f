"""The following commands: `run` (the service) and `scan` (cron). Arguments
in, logging out; the work is in service.py, and delivery's in deliver/. The
follower and Apprise are imported only when a command runs."""

from __future__ import annotations

import argparse
import logging
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from authwatch import config, errors
from authwatch.console import add_config_option, error, log_to_stderr, warn
from authwatch.errors import UserError

SCAN_DELIVERY = 45.0  # seconds a scan gives delivery: cron runs it every minute
USER_LOCK_WAIT = 60.0  # seconds `scan --user` waits for the scan before it (it may have missed this login)

_FOLLOWING = (
    "Files are followed by inode and offset through every kind of rotation (rename + create, copytruncate, "
    "compression, rotation while stopped). A position is saved only once the alerts of the lines before it "
    "are in the outbox: nothing is lost, nothing is queued twice.",
    "A file never followed before starts at its end (no flood of alerts for history) unless --from-start is "
    "given; a file that appears later is read from its start. The files are the configuration's `sources:` "
    "(default: auto, i.e. /var/log/auth.log and /var/log/secure, whichever exist, else the systemd journal).",
    "The journal (sources: journal, or journal:DIR) is read with journalctl and resumed after the last entry "
    "done with (its cursor); forged sshd entries are critical `forged` alerts, and a text log read beside it "
    "gives no second alert for the same line.",
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="follow the logs as a service: alert on each login, deliver the alerts",
        description=_paragraphs(
            "Follow the configured log files continuously, queue an alert for each login in the state store's "
            "outbox, and deliver the outbox to the configured targets.",
            *_FOLLOWING,
            "It wakes on inotify events, with a safety poll every poll_interval seconds (default 5). SIGTERM or "
            "SIGINT stops it cleanly (positions saved); SIGHUP reloads the configuration (an invalid one is "
            "reported and the one in use is kept). One authwatch follows a state database at a time.",
        ),
        epilog="examples:\n"
        "  authwatch run --config /etc/authwatch/config.yaml\n"
        "  authwatch run --from-start       # first run: read the existing logs too\n\n"
        "exit codes: 0 stopped by a signal, 1 runtime failure (e.g. another authwatch\n"
        "holds the state database), 2 usage error (e.g. --config names no file), 3\n"
        "invalid configuration, 4 configuration refused as insecure.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan = sub.add_parser(
        "scan",
        help="process everything new since the last run, deliver, and exit (for cron)",
        description=_paragraphs(
            "Read everything new since the saved positions, queue its alerts in the state store's outbox, "
            f"deliver what is due (for at most {SCAN_DELIVERY:.0f} seconds), and exit: for cron, every minute. "
            "Quiet unless something is wrong.",
            *_FOLLOWING,
            "If another authwatch (run or scan) holds the state database, scan exits at once, quietly and with "
            "status 0, so overlapping cron runs are safe (with --user it waits up to "
            f"{USER_LOCK_WAIT:.0f} seconds first: the scan before it may have missed this login).",
        ),
        epilog="examples:\n"
        "  * * * * * authwatch /usr/local/bin/authwatch scan --config /etc/authwatch/config.yaml\n"
        "      (the line of contrib/cron/authwatch)\n"
        "  * * * * * /usr/bin/python3 -m authwatch scan --user\n"
        "      (no root: a user's crontab, beside 'authwatch profile install')\n\n"
        "exit codes: 0 ok, 1 alerts left undelivered (they stay queued for the next run)\n"
        "or marked dead in this run, or another runtime failure (e.g. the state store\n"
        "cannot be written), 2 usage error (e.g. --config names no file), 3 invalid\n"
        "configuration, 4 configuration refused as insecure.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for command in (run, scan):
        add_config_option(command)
        command.add_argument("--from-start", action="store_true",
                             help="read files never followed before from their beginning instead of their end")
        command.add_argument("--insecure-config", action="store_true",
                             help="start even though the configuration file holds secrets others may read, or "
                             "anyone may change it (refused otherwise, exit 4)")
        command.add_argument("--user", action="store_true",
                             help="no-root mode: the configuration and state are the user's own, under "
                             "~/.config/authwatch and ~/.local/state/authwatch (XDG), and the source is "
                             "~/.ssh_logins, written by the lines 'authwatch profile install' adds, unless the "
                             "configuration names others. A scan waits up to "
                             f"{USER_LOCK_WAIT:.0f} seconds for another one to finish")
    run.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors, not each alert")
    run.set_defaults(func=_run)
    scan.add_argument("-v", "--verbose", action="store_true", help="also log each alert and each file started")
    scan.set_defaults(func=_scan)


def _paragraphs(*texts: str) -> str:
    return "\n\n".join(textwrap.fill(t, 79) for t in texts)


def _run(args: argparse.Namespace) -> int:
    from authwatch.deliver.delivery import Delivery
    from authwatch.service import Service

    log_to_stderr(logging.WARNING if args.quiet else logging.INFO)
    settings = _secure_settings(args)
    delivery = Delivery(settings, settings.state)
    with Service(settings, config_file=args.config, from_start=args.from_start,
                 allow_insecure=args.insecure_config, reload=_loader(args)) as service:
        service.attach(delivery)
        with _signals(service):
            service.run()
    return errors.OK


def _scan(args: argparse.Namespace) -> int:
    from authwatch.deliver.delivery import Delivery
    from authwatch.service import Service

    log_to_stderr(logging.INFO if args.verbose else logging.WARNING)
    settings = _secure_settings(args)
    delivery = Delivery(settings, settings.state)
    service = Service(settings, config_file=args.config, from_start=args.from_start, scan=True,
                      allow_insecure=args.insecure_config, lock_wait=USER_LOCK_WAIT if args.user else 0.0,
                      reload=_loader(args))
    if not service.open():
        return errors.OK  # another run or scan is at work: leave it to that one
    try:
        service.scan()
        delivery.following(service.log_sources)
        report = delivery.run_once(time.time() + SCAN_DELIVERY, retry_now=args.user)
    finally:
        service.close()
    if report.dead:
        error(dead_text(report.dead) + "; 'authwatch outbox' lists them, 'authwatch outbox --retry ID' queues one again")
    if report.undelivered:
        n = report.undelivered
        error(f"{n} {'deliveries' if n != 1 else 'delivery'} did not get through; {'they stay' if n != 1 else 'it stays'} "
              "queued for the next run ('authwatch outbox' lists the queue)")
    return errors.OK if report.ok else errors.RUNTIME


def dead_text(n: int) -> str:
    """What a run that gave deliveries up says (scan, replay --notify)."""
    return (f"{n} {'deliveries were' if n != 1 else 'delivery was'} given up in this run and marked dead "
            "(undelivered for longer than delivery.dead_after, or for a target no longer configured)")


def _secure_settings(args: argparse.Namespace) -> config.Settings:
    """The configuration, refused (exit 4) when others may read its secrets
    or anyone may change it, unless --insecure-config."""
    settings = _loader(args)(args.config)
    for w in settings.warnings:
        warn(w)
    why = config.insecure(settings)
    if why and not args.insecure_config:
        raise UserError(f"{why}; authwatch refuses to start with it (--insecure-config starts it anyway)",
                        errors.INSECURE)
    if why:
        warn(f"{why} (started anyway: --insecure-config)")
    return settings


def _loader(args: argparse.Namespace) -> Callable[[str | None], config.Settings]:
    """How the configuration is read: the user's own with --user."""
    if args.user:
        from authwatch import usermode

        return usermode.load
    return config.load


@contextmanager
def _signals(service) -> Iterator[None]:
    """SIGTERM and SIGINT stop the service cleanly, SIGHUP reloads."""
    wanted = {signal.SIGTERM: service.request_stop, signal.SIGINT: service.request_stop,
              signal.SIGHUP: service.request_reload}
    saved = {sig: signal.signal(sig, lambda _s, _f, act=act: act()) for sig, act in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
