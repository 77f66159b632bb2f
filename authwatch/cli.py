"""The `authwatch` command: argument parsing and printing only; the work is
done by the library modules."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import textwrap

from authwatch import __version__, cli_check, cli_delivery, cli_follow, cli_geoip, cli_history, cli_profile, errors
from authwatch.console import PROG, add_config_option, load_settings, log_to_stderr, parse_time
from authwatch.console import error as _error
from authwatch.console import warn as _warn
from authwatch.enrich import describe
from authwatch.enrich.enricher import Enricher
from authwatch.errors import UserError
from authwatch.event import FORGED, LOGIN
from authwatch.output import block, json_line, printable
from authwatch.parse.syslog import Stats
from authwatch.pipeline import Pipeline, Result
from authwatch.replay import FORMATS, REPLAY_HOLD, replay
from authwatch.rules.engine import Engine
from authwatch.sources.lines import InputError
from authwatch.store import Store, StoreError


def main(argv: list[str] | None = None) -> int:
    # authwatch makes many short-lived objects and few cycles: collecting
    # less often (and never scanning what start-up loaded) is a large,
    # measured speed-up of replay, with no growth in memory.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    log_to_stderr()
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Tell a server's owner, within a second, that someone logged in over SSH, SCP or SFTP: "
        "from where, how, and whether that is normal.",
        epilog="\n\n".join(textwrap.fill(paragraph, 79) for paragraph in (
            "Configuration: the first of --config PATH, $AUTHWATCH_CONFIG, /etc/authwatch/config.yaml "
            "(as root) or $XDG_CONFIG_HOME/authwatch/config.yaml (~/.config/authwatch/config.yaml) that "
            "exists; none: built-in defaults. rules.example.yaml documents every key; 'authwatch check' "
            "checks a file.",
            "Exit codes: 0 ok, 1 runtime failure, 2 usage error or missing input, "
            "3 invalid configuration, 4 configuration refused as insecure.",
            "Run 'authwatch COMMAND --help' for a command's options.",
        )),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    r = sub.add_parser(
        "replay",
        help="run the whole pipeline over log files and print what would alert",
        description="Run sources -> parse -> enrich -> rules -> output over log files, without root and "
        "without a configuration file. By default prints one block per alert, per login held for the digest "
        "(quiet hours), and per summary or digest the rules send. Time is the log's: quiet hours, cooldowns and "
        "summary windows are judged by the events' time, and what the rules still hold at the end of input "
        "is sent then. History (for novelty) is kept in a scratch state for the run unless --state is given.",
        epilog="Examples:\n"
        "  authwatch replay /var/log/auth.log\n"
        "  authwatch replay --events --json /var/log/auth.log.2.gz /var/log/auth.log.1\n"
        "  authwatch replay --explain --config rules.yaml /var/log/auth.log\n"
        "  journalctl -o json _COMM=sshd + _COMM=sshd-session | authwatch replay -\n"
        "  authwatch replay --stats --now 2026-11-22T12:00 old-auth.log",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("files", nargs="+", metavar="FILE", help="log files (plain or .gz); - reads stdin")
    r.add_argument("--json", action="store_true", help="one JSON object per line (docs/event.schema.json)")
    r.add_argument("--events", action="store_true", help="print every parsed event, not only alerts")
    r.add_argument("--explain", action="store_true",
                   help="for each login (alerted or not): each rule tried, each condition and whether it matched, "
                   "the action, and where it would be sent")
    r.add_argument("--stats", action="store_true",
                   help="print at the end how many lines were read, parsed, skipped as malformed, "
                   "and how many sshd lines matched no known shape (with examples)")
    r.add_argument("--now", metavar="TIME",
                   help="the time classic (yearless) timestamps are read against, ISO 8601 "
                   "(default: each file's modification time; the wall clock for stdin)")
    r.add_argument("--format", choices=FORMATS, default="auto",
                   help="syslog text, or 'journalctl -o json' output (default: auto, by each file's first line)")
    r.add_argument("--state", metavar="PATH", help="use (and update) this state database instead of a scratch one")
    add_config_option(r)
    r.add_argument("--notify", action="store_true",
                   help="also send the alerts to the configured targets (rate limits apply; exit 1 if some "
                   "could not be delivered, or were marked dead). Without it, replay never sends anything")
    r.set_defaults(func=_replay)
    cli_follow.add_commands(sub)
    cli_check.add_commands(sub)
    cli_delivery.add_commands(sub)
    cli_history.add_commands(sub)
    cli_geoip.add_commands(sub)
    cli_profile.add_commands(sub)
    return p


def _replay(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, sends=args.notify)
    targets = cli_delivery.targets_for_notify(settings) if args.notify else None
    tz = settings.tz
    now = parse_time(args.now, tz, "--now") if args.now else None
    out = sys.stdout
    show_all = args.events
    explained = frozenset((LOGIN, FORGED)) if args.explain else frozenset()
    credit = None

    def on_results(results: list[Result]) -> None:
        nonlocal credit
        for event, decision, alert in results:
            if alert is None and decision.action != "digest" and event.kind not in explained and not show_all:
                continue
            credit = credit or describe.attribution((event,))
            if args.json:
                out.write(json_line(event, decision, alert.id if alert else None) + "\n")
            else:
                out.write(block(event, decision) + "\n")

    with tempfile.TemporaryDirectory(prefix="authwatch-replay-") as scratch:
        state = args.state or os.path.join(scratch, "state.db")
        with Store(state, durable=bool(args.state)) as store:
            enricher = Enricher(settings, store)
            for warning in enricher.take_warnings():
                _warn(warning)
            pipeline = Pipeline(
                store, targets=tuple(targets or ()), hold=REPLAY_HOLD, enrichers=[enricher], log_time=True,
                report_all=show_all or args.explain, rules=Engine(settings, store), explain=args.explain,
            )
            stats, failures, unread = replay(args.files, pipeline, tz, on_results, now=now, fmt=args.format)
            for warning in unread + enricher.take_warnings():
                _warn(warning)
        if credit and not args.json:
            out.write(f"({credit})\n")
        out.flush()
        delivered = (cli_delivery.notify(settings, targets, state, kept=bool(args.state), config_path=args.config)
                     if targets else True)
    if args.stats:
        print(_stats_text(stats), file=sys.stderr)
    for failure in failures:
        _error(failure)
    return errors.USAGE if failures else errors.OK if delivered else errors.RUNTIME


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
