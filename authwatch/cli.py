"""The `authwatch` command: argument parsing and printing only; the work is
done by the library modules."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
import tempfile
import time
from datetime import datetime

from authwatch import __version__, config, errors
from authwatch.errors import UsageError, UserError
from authwatch.output import block, json_line, printable
from authwatch.parse.syslog import Stats
from authwatch.pipeline import Pipeline, Result
from authwatch.replay import FORMATS, REPLAY_HOLD, replay
from authwatch.sources.lines import InputError
from authwatch.store import Store, StoreError

PROG = "authwatch"
NOTIFY_DEADLINE = 120.0  # seconds replay --notify waits for deliveries


def main(argv: list[str] | None = None) -> int:
    # authwatch makes many short-lived objects and few cycles: collecting
    # less often (and never scanning what start-up loaded) is a large,
    # measured speed-up of replay, with no growth in memory.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    _log_to_stderr()
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


class _StderrHandler(logging.Handler):
    """The library's log (delivery failures, ...) as `authwatch: warning: ...`
    on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        for line in self.format(record).splitlines() or [""]:
            print(f"{PROG}: {record.levelname.lower()}: {line}", file=sys.stderr)


def _log_to_stderr() -> None:
    logger = logging.getLogger(PROG)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler(logging.WARNING))
        logger.setLevel(logging.INFO)


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
        "  journalctl -o json _COMM=sshd + _COMM=sshd-session | authwatch replay -\n"
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
    r.add_argument("--format", choices=FORMATS, default="auto",
                   help="syslog text, or 'journalctl -o json' output (default: auto, by each file's first line)")
    r.add_argument("--state", metavar="PATH", help="use (and update) this state database instead of a scratch one")
    r.add_argument("--config", metavar="PATH", help="configuration file (default: see 'authwatch --help')")
    r.add_argument("--notify", action="store_true",
                   help="also send the alerts to the configured targets (rate limits apply; exit 1 if some "
                   "could not be delivered). Without it, replay never sends anything")
    r.set_defaults(func=_replay)

    o = sub.add_parser(
        "outbox",
        help="show alerts not (yet) delivered, and the health of each target",
        description="Show what waits in the outbox: per target, alerts pending (queued or being retried), held "
        "(over the rate limit, waiting for the digest), failed (set aside after repeated failures, still "
        "retried) and dead (given up after delivery.dead_after), with tries and the last error; and each "
        "target's state. --retry queues a failed or dead alert again, at once.",
        epilog="Examples:\n"
        "  authwatch outbox\n"
        "  authwatch outbox --retry 96adeee1\n"
        "  authwatch outbox --retry 96adeee1 --target ops-mail",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    o.add_argument("--retry", metavar="ID", help="queue the failed or dead alert whose id starts with ID again")
    o.add_argument("--target", metavar="NAME", help="with --retry: only for this target")
    o.add_argument("--state", metavar="PATH", help="state database (default: the configured one)")
    o.add_argument("--config", metavar="PATH", help="configuration file (default: see 'authwatch --help')")
    o.set_defaults(func=_outbox)

    t = sub.add_parser(
        "test-notify",
        help="send a test message to every target (or those named) and report each result",
        description="Send a short test message to each configured target, or to the targets named, at once and "
        "without the outbox, and print for each one 'ok' or the exact error. Exit 1 if any failed.",
        epilog="Examples:\n  authwatch test-notify\n  authwatch test-notify ops-mail",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("names", nargs="*", metavar="TARGET", help="target names from the configuration (default: all)")
    t.add_argument("--config", metavar="PATH", help="configuration file (default: see 'authwatch --help')")
    t.set_defaults(func=_test_notify)
    return p


def _settings(path: str | None) -> config.Settings:
    settings = config.load(path)
    for warning in settings.warnings:
        _warn(warning)
    return settings


def _replay(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    targets = _targets_for_notify(settings) if args.notify else None
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
        state = args.state or os.path.join(scratch, "state.db")
        with Store(state, durable=bool(args.state)) as store:
            pipeline = Pipeline(
                store, targets=tuple(targets or ()), hold=REPLAY_HOLD, log_time=True, report_all=show_all
            )
            stats, failures = replay(args.files, pipeline, tz, on_results, now=now, fmt=args.format)
        out.flush()
        delivered = _notify(settings, targets, state, kept=bool(args.state)) if targets else True
    if args.stats:
        print(_stats_text(stats), file=sys.stderr)
    for failure in failures:
        _error(failure)
    return errors.USAGE if failures else errors.OK if delivered else errors.RUNTIME


def _targets_for_notify(settings: config.Settings) -> dict:
    from authwatch.deliver.targets import build  # imports Apprise: only when sending

    if not settings.targets:
        raise UsageError("--notify: no targets are configured (add a targets: section to the configuration; "
                         "see README, Delivery)")
    return build(settings)


def _notify(settings: config.Settings, targets: dict, state: str, kept: bool) -> bool:
    """Deliver what replay queued; say what happened on stderr."""
    from authwatch.deliver.delivery import Delivery

    report = Delivery(settings, state, targets=targets).run_once(time.time() + NOTIFY_DEADLINE, health_checks=False)
    print(f"{PROG}: notify: {report.sent} message{'s' if report.sent != 1 else ''} sent, "
          f"{report.failures} failed attempt{'s' if report.failures != 1 else ''}", file=sys.stderr)
    if report.undelivered:
        where = (f"they stay queued in {state} ('authwatch outbox --state {state}')" if kept
                 else "the scratch state is discarded (use --state PATH to keep them for retries)")
        _error(f"notify: {report.undelivered} deliveries did not get through; {where}")
    return report.ok


def _outbox(args: argparse.Namespace) -> int:
    from authwatch.deliver.view import outbox_text, retry_text

    settings = _settings(args.config)
    path = args.state or settings.state
    if not os.path.exists(path):
        raise UsageError(f"{path}: no state database (nothing was ever queued there)")
    with Store(path) as store:
        if args.retry:
            print(retry_text(store, args.retry, args.target, time.time()))
        else:
            print(outbox_text(store, settings, time.time()))
    return errors.OK


def _test_notify(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    if not settings.targets:
        raise UsageError("no targets are configured: add a targets: section to the configuration (see README, "
                         "Delivery)")
    unknown = [n for n in args.names if n not in settings.targets]
    if unknown:
        raise UsageError(f"no target named {', '.join(map(repr, unknown))}; configured: "
                         f"{', '.join(settings.targets)}")
    from authwatch.deliver.message import render_test
    from authwatch.deliver.targets import build, try_each

    names = args.names or list(settings.targets)
    targets = build(settings)
    host = socket.gethostname()
    outcomes = try_each({n: targets[n] for n in names}, lambda target: render_test(target.name, host))
    width = max(len(n) for n in names)
    for o in outcomes:
        print(f"{o.target:<{width}}  " + (f"ok ({o.seconds:.2f} s)" if o.error is None else f"FAILED: {o.error}"))
    return errors.OK if all(o.error is None for o in outcomes) else errors.RUNTIME


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
