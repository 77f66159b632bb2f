"""The `authwatch` command: argument parsing and printing only; the work is
done by the library modules."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from authwatch import __version__, config, errors
from authwatch.errors import UsageError, UserError
from authwatch.output import block, json_line, printable
from authwatch.parse.syslog import Stats
from authwatch.pipeline import Pipeline, Result
from authwatch.replay import REPLAY_HOLD, replay
from authwatch.sources.lines import InputError
from authwatch.store import Store, StoreError

PROG = "authwatch"


def main(argv: list[str] | None = None) -> int:
    # authwatch makes many short-lived objects and few cycles: collecting
    # less often (and never scanning what start-up loaded) is a large,
    # measured speed-up of replay, with no growth in memory.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return errors.USAGE
    try:
        return args.func(args)
    except UserError as e:
        for warning in getattr(e, "warnings", ()):
            _warn(warning)
        _error(str(e))
        return e.code
    except (InputError, StoreError) as e:
        _error(str(e))
        return errors.USAGE if isinstance(e, InputError) else errors.RUNTIME
    except BrokenPipeError:
        # The reader went away (`authwatch replay ... | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return errors.OK
    except KeyboardInterrupt:
        return 130


def _error(message: str) -> None:
    for line in message.splitlines() or [""]:
        print(f"{PROG}: error: {line}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Tell a server's owner, within a second, that someone logged in over SSH, SCP or SFTP: "
        "from where, how, and whether that is normal.",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 usage error or missing input, "
        "3 invalid configuration, 4 configuration refused as insecure. "
        "Run 'authwatch COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    r = sub.add_parser(
        "replay",
        help="run the whole pipeline over log files and print what would alert",
        description="Run sources -> parse -> enrich -> rules -> output over log files, without root and "
        "without a configuration file. By default prints one block per login alert. History (for novelty) "
        "is kept in a scratch state for the run unless --state is given.",
        epilog="Examples:\n"
        "  authwatch replay /var/log/auth.log\n"
        "  authwatch replay --events --json /var/log/auth.log.2.gz /var/log/auth.log.1\n"
        "  journalctl -u ssh -o short-iso-precise | authwatch replay -\n"
        "  authwatch replay --stats --now 2026-11-22T12:00 old-auth.log",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("files", nargs="+", metavar="FILE", help="log files (plain or .gz); - reads stdin")
    r.add_argument("--json", action="store_true", help="one JSON object per line (docs/event.schema.json)")
    r.add_argument("--events", action="store_true", help="print every parsed event, not only alerts")
    r.add_argument("--stats", action="store_true",
                   help="print at the end how many lines were read, parsed, skipped as malformed, "
                   "and how many sshd lines matched no known shape (with examples)")
    r.add_argument("--now", metavar="TIME",
                   help="the time classic (yearless) timestamps are read against, ISO 8601 "
                   "(default: each file's modification time; the wall clock for stdin)")
    r.add_argument("--state", metavar="PATH", help="use (and update) this state database instead of a scratch one")
    r.add_argument("--config", metavar="PATH", help="configuration file (default: see 'authwatch --help')")
    r.set_defaults(func=_replay)

    follow_help = (
        "Files are followed by inode and offset through every kind of rotation (rename + create, copytruncate, "
        "compression, rotation while stopped). A position is saved only once the alerts of the lines before it "
        "are in the outbox: nothing is lost, nothing is queued twice.",
        "A file never followed before starts at its end (no flood of alerts for history) unless --from-start is "
        "given; a file that appears later is read from its start. The files are the configuration's `sources:` "
        "(default: auto, i.e. /var/log/auth.log and /var/log/secure, whichever exist).",
    )
    run = sub.add_parser(
        "run",
        help="follow the logs as a service and queue an alert for each login",
        description=_paragraphs(
            "Follow the configured log files continuously and queue alerts in the state store's outbox.",
            *follow_help,
            "It wakes on inotify events, with a safety poll every poll_interval seconds (default 5). SIGTERM or "
            "SIGINT stops it cleanly (positions saved); SIGHUP reloads the configuration (an invalid one is "
            "reported and the one in use is kept). One authwatch follows a state database at a time.",
        ),
        epilog="examples:\n"
        "  authwatch run --config /etc/authwatch/config.yaml\n"
        "  authwatch run --from-start       # first run: read the existing logs too\n\n"
        "exit codes: 0 stopped by a signal, 1 runtime failure (e.g. another authwatch\n"
        "holds the state database), 3 invalid configuration.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan = sub.add_parser(
        "scan",
        help="process everything new since the last run, then exit (for cron)",
        description=_paragraphs(
            "Read everything new since the saved positions, queue its alerts in the state store's outbox, and "
            "exit: for cron, every minute. Quiet unless something is wrong.",
            *follow_help,
            "If another authwatch (run or scan) holds the state database, scan exits at once, quietly and with "
            "status 0, so overlapping cron runs are safe.",
        ),
        epilog="example (the line of contrib/cron/authwatch):\n"
        "  * * * * * authwatch /opt/authwatch/bin/authwatch scan --config /etc/authwatch/config.yaml\n\n"
        "exit codes: 0 ok, 1 runtime failure (e.g. the state store cannot be written;\n"
        "the next run retries), 3 invalid configuration.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for command in (run, scan):
        command.add_argument("--config", metavar="PATH", help="configuration file (default: see 'authwatch --help')")
        command.add_argument("--from-start", action="store_true",
                             help="read files never followed before from their beginning instead of their end")
    run.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors, not each alert")
    run.set_defaults(func=_run)
    scan.add_argument("-v", "--verbose", action="store_true", help="also log each alert and each file started")
    scan.set_defaults(func=_scan)
    return p


def _paragraphs(*texts: str) -> str:
    return "\n\n".join(textwrap.fill(t, 79) for t in texts)


def _replay(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    for warning in settings.warnings:
        _warn(warning)
    tz = settings.tz
    now = _parse_now(args.now, tz) if args.now else None
    out = sys.stdout
    show_all = args.events

    def on_results(results: list[Result]) -> None:
        for event, decision, alert in results:
            if alert is None and not show_all:
                continue
            if args.json:
                out.write(json_line(event, decision, alert.id if alert else None) + "\n")
            else:
                out.write(block(event, decision) + "\n")

    with tempfile.TemporaryDirectory(prefix="authwatch-replay-") as scratch:
        with Store(args.state or os.path.join(scratch, "state.db")) as store:
            pipeline = Pipeline(
                store, targets=(), hold=REPLAY_HOLD, hold_always=True, log_time=True, report_all=show_all
            )
            stats, failures = replay(args.files, pipeline, tz, on_results, now=now)
    out.flush()
    if args.stats:
        print(_stats_text(stats), file=sys.stderr)
    for failure in failures:
        _error(failure)
    return errors.USAGE if failures else errors.OK


def _run(args: argparse.Namespace) -> int:
    from authwatch.service import Service  # watchdog and the follower: not for replay's start-up

    settings = config.load(args.config)
    with _logging(logging.WARNING if args.quiet else logging.INFO):
        for warning in settings.warnings:
            logging.getLogger(PROG).warning("%s", warning)
        with Service(settings, config_file=args.config, from_start=args.from_start) as service:
            # Delivery (issue 3) attaches here: service.attach(...)
            with _signals(service):
                service.run()
    return errors.OK


def _scan(args: argparse.Namespace) -> int:
    from authwatch.service import Service

    settings = config.load(args.config)
    with _logging(logging.INFO if args.verbose else logging.WARNING):
        for warning in settings.warnings:
            logging.getLogger(PROG).warning("%s", warning)
        service = Service(settings, config_file=args.config, from_start=args.from_start, scan=True)
        if not service.open():
            return errors.OK  # another run or scan is at work: leave it to that one
        try:
            service.scan()
        finally:
            service.close()
    return errors.OK


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


@contextmanager
def _logging(level: int) -> Iterator[None]:
    """Log records of the library to stderr, as `authwatch: LEVEL: message`."""
    logger = logging.getLogger(PROG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)


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


def _parse_now(text: str, tz) -> datetime:
    try:
        now = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r}: expected an ISO 8601 time such as 2026-11-22T15:04:05") from None
    return now if now.tzinfo else now.replace(tzinfo=tz)


def _stats_text(s: Stats) -> str:
    rows = [
        ("lines read", s.lines),
        ("sshd events", s.events),
        ("sshd lines without login information", s.noise),
        ("lines from other programs", s.other),
        ("malformed lines (skipped)", s.malformed),
        ("sshd lines of unknown shape", s.unknown),
    ]
    text = "".join(f"{label:<38} {n:>12,}\n" for label, n in rows)
    if s.unknown:
        text += "lines of unknown shape (the parser may not fit this OpenSSH), for example:\n"
        text += "".join(f"  {printable(example, 300)}\n" for example in s.unknown_examples)
    return text.rstrip("\n")
