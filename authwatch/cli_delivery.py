"""The delivery commands: `outbox`, `test-notify`, and what `replay --notify`
needs. Apprise is imported only when a command sends."""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
import time

from authwatch import config, errors
from authwatch.console import PROG, add_config_option, error, load_settings
from authwatch.errors import UsageError
from authwatch.store import Store

NOTIFY_DEADLINE = 120.0  # seconds replay --notify waits for deliveries


def add_commands(sub: argparse._SubParsersAction) -> None:
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
    add_config_option(o)
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
    add_config_option(t)
    t.set_defaults(func=_test_notify)


def targets_for_notify(settings: config.Settings) -> dict:
    """The configured targets, built (and checked) for `replay --notify`."""
    from authwatch.deliver.targets import build  # imports Apprise: only when sending

    if not settings.targets:
        raise UsageError("--notify: no targets are configured (add a targets: section to the configuration; "
                         "see README, Delivery)")
    return build(settings)


def notify(settings: config.Settings, targets: dict, state: str, kept: bool, config_path: str | None) -> bool:
    """Deliver what replay queued; say what happened on stderr. `config_path`:
    the --config given, which the outbox command suggested needs too (its
    targets are the ones the deliveries were queued for)."""
    from authwatch.deliver.delivery import Delivery

    outbox = f"authwatch outbox --state {shlex.quote(state)}" + (
        f" --config {shlex.quote(config_path)}" if config_path else "")
    report = Delivery(settings, state, targets=targets).run_once(time.time() + NOTIFY_DEADLINE, health_checks=False)
    print(f"{PROG}: notify: {report.sent} message{'s' if report.sent != 1 else ''} sent, "
          f"{report.failures} failed attempt{'s' if report.failures != 1 else ''}", file=sys.stderr)
    if report.dead:
        from authwatch.cli_follow import dead_text

        error(f"notify: {dead_text(report.dead)}"
              + (f"; '{outbox}' lists them, --retry ID queues one again" if kept else ""))
    if report.undelivered:
        n = report.undelivered
        they = "they stay" if n != 1 else "it stays"
        where = (f"{they} queued in {state} ('{outbox}')" if kept
                 else "the scratch state is discarded (use --state PATH to keep them for retries)")
        error(f"notify: {n} {'deliveries' if n != 1 else 'delivery'} did not get through; {where}")
    return report.ok


def _outbox(args: argparse.Namespace) -> int:
    from authwatch.deliver.view import outbox_text, retry_text

    settings = load_settings(args.config, sends=False)  # --retry only queues again
    if args.target and not args.retry:
        raise UsageError("outbox --target NAME goes with --retry ID")
    if args.target and args.target not in settings.targets:
        raise UsageError(f"no target named {args.target!r}; configured: {', '.join(settings.targets) or 'none'}")
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
    settings = load_settings(args.config, sends=True)
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
