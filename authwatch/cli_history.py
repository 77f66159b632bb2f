"""Commands about history: `learn`, `history` and `trust` (arguments in,
printing out; the work is in authwatch/enrich/)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone, tzinfo

from authwatch import config, errors
from authwatch.console import add_config_option, error, load_settings, parse_time, warn
from authwatch.enrich import describe, ipscope
from authwatch.enrich.trust import parse_target
from authwatch.errors import UsageError
from authwatch.event import Geo
from authwatch.output import printable
from authwatch.learning import learn
from authwatch.sources.rotated import oldest_first
from authwatch.store import HistoryRow, Store

KINDS = ("ip", "network", "asn", "country", "key")


def add_commands(sub: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "learn",
        help="fill history from old logs, sending nothing",
        description="Read old logs into the history of the state database, so that a new install does not "
        "call every known address new. Nothing is queued or sent. Files are plain or gzip-compressed; each "
        "rotated set (auth.log.4.gz ... auth.log.1 auth.log) is read oldest first, whatever the order given. "
        "Reading the same lines twice counts them once.",
        epilog="Examples:\n  authwatch learn /var/log/auth.log*\n  authwatch learn /var/log/secure*\n"
        "  journalctl -u ssh -o short-iso-precise | authwatch learn -",
        formatter_class=raw,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="log files (plain or .gz); - reads stdin")
    _common(p, now=True)
    p.set_defaults(func=_learn)

    p = sub.add_parser(
        "history",
        help="show what history knows: addresses (or networks, ASNs, countries, keys) per user",
        description="Print the history of logins kept in the state database: for each user the addresses "
        "they logged in from, where those are, their network, first and last seen, and how often.",
        epilog="Examples:\n  authwatch history\n  authwatch history alice --kind all\n"
        "  authwatch history --kind key --json",
        formatter_class=raw,
    )
    p.add_argument("user", nargs="?", metavar="USER", help="only this user")
    p.add_argument("--kind", choices=(*KINDS, "all"), default="ip",
                   help="what to list (default: ip; all: every kind)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _common(p)
    p.set_defaults(func=_history)

    p = sub.add_parser(
        "trust",
        help="mark an address, network or key as known for a user (\"that was me\")",
        description="Mark an IP address, a network (CIDR) or a key fingerprint as known for USER, on every "
        "host or one (--host), for ever or --until a time. A login from it is then new in nothing that "
        "comes from the address (IP, network, ASN, country), or, for a key, not a new key. The running "
        "service picks it up within a minute.",
        epilog="Examples:\n  authwatch trust alice 198.51.100.7\n"
        "  authwatch trust alice 203.0.113.0/24 --until 30d\n"
        "  authwatch trust deploy SHA256:Ks3XiiXSzhf5Xd9PrJDdqrS6V8bb7Nl+sQXRwkRfdkI --host web1\n"
        "  authwatch trust --list\n  authwatch trust --remove alice 198.51.100.7",
        formatter_class=raw,
    )
    p.add_argument("user", nargs="?", metavar="USER")
    p.add_argument("target", nargs="?", metavar="IP|CIDR|KEY",
                   help="an address, a network such as 203.0.113.0/24, or a fingerprint SHA256:...")
    p.add_argument("--until", metavar="WHEN",
                   help="until this time (ISO 8601, in the configured time zone) or for this long (30d, 12h)")
    p.add_argument("--host", metavar="HOST", help="only on this host (as the log names it); default: every host")
    p.add_argument("--list", action="store_true", help="list what is trusted")
    p.add_argument("--remove", action="store_true", help="take USER IP|CIDR|KEY off the list")
    _common(p)
    p.set_defaults(func=_trust)


def _common(p: argparse.ArgumentParser, now: bool = False) -> None:
    if now:
        p.add_argument("--now", metavar="TIME",
                       help="the time classic (yearless) timestamps are read against, ISO 8601 "
                       "(default: each file's modification time)")
    p.add_argument("--state", metavar="PATH", help="state database (default: the configured one)")
    add_config_option(p)


def _learn(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, sends=False)
    now = parse_time(args.now, settings.tz, "--now") if args.now else None
    paths = oldest_first(args.files)
    with Store(args.state or settings.state) as store:
        learned = learn(settings, store, paths, now)
        known = store.history_users()
    for w in learned.warnings:
        warn(w)
    cut = f"; {len(learned.failures):,} not read to the end" if learned.failures else ""
    print(f"read {_count(learned.logins, 'login')} of {_count(learned.users, 'user')} from "
          f"{_count(len(paths), 'file')} ({_count(learned.stats.lines, 'line')}{cut}), oldest first: {', '.join(paths)}")
    print(f"history now holds {_count(known, 'user')} in {args.state or settings.state}")
    for f in learned.failures:
        error(f)
    return errors.USAGE if learned.failures else errors.OK


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _history(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, sends=False)
    kinds = KINDS if args.kind == "all" else (args.kind,)
    state = args.state or settings.state
    if not os.path.exists(state):
        raise UsageError(f"{state}: no state database (nothing was ever learned or followed there)")
    with Store(state) as store:
        rows = store.history(args.user, kinds)
        orgs = {(r.host, r.user, r.value): r.label for r in store.history(args.user, ("asn",))}
    if args.json:
        for r in rows:
            d = r._asdict()
            d["first_seen"], d["last_seen"] = _iso(r.first_seen), _iso(r.last_seen)
            print(json.dumps(d, ensure_ascii=False))
        return errors.OK
    if not rows:
        print("no history" + (f" for {printable(args.user)}" if args.user else "") + " yet")
        return errors.OK
    tz = settings.tz
    head = ["USER", "HOST", "KIND", "VALUE", "PLACE / NAME", "ASN", "FIRST SEEN", "LAST SEEN", "COUNT"]
    table = [head] + [
        [printable(r.user, 32), printable(r.host or "*", 32), r.kind, printable(r.value, 64),
         _place(r), _asn(r, orgs), _when(r.first_seen, tz), _when(r.last_seen, tz),
         f"{r.count:,}"]
        for r in rows
    ]
    if len(kinds) == 1:  # the kind column says nothing
        table = [row[:2] + row[3:] for row in table]
        table[0][2] = kinds[0].upper() if kinds[0] != "ip" else "IP"
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return errors.OK


def _place(r: HistoryRow) -> str:
    """The place (or name) on record, else what kind of address it is ("private network")."""
    if r.label or r.kind not in ("ip", "network"):
        return printable(r.label or "", 40)
    return describe.where(Geo(ipscope.scope(r.value.partition("/")[0]))) or ""


def _asn(r: HistoryRow, orgs: dict) -> str:
    if r.kind == "asn":
        return f"AS{r.value}"
    if r.asn is None:
        return ""
    org = orgs.get((r.host, r.user, str(r.asn)))
    return printable(f"AS{r.asn} {org}" if org else f"AS{r.asn}", 40)


def _trust(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, sends=False)
    if args.list and args.target:
        raise UsageError("trust --list: give at most a USER to list what is trusted for")
    state = args.state or settings.state
    if args.list and not os.path.exists(state):
        raise UsageError(f"{state}: no state database (nothing was ever trusted there)")
    with Store(state) as store:
        if args.list:
            rows = [r for r in store.trusts() if args.user is None or r.user == args.user]
            if not rows:
                print("nothing is trusted")
            for r in rows:
                print(_trusted(r.user, r.value, r.host, r.until, settings.tz))
            return errors.OK
        if not args.user or not args.target:
            raise UsageError("trust: give USER and IP|CIDR|KEY (or --list)")
        try:
            kind, value = parse_target(args.target)
        except ValueError as e:
            raise UsageError(f"trust: {e}") from None
        host = args.host or ""
        if args.remove:
            if store.remove_trust(host, args.user, kind, value):
                print(f"{printable(args.user)}: {value} is no longer trusted")
                return errors.OK
            raise UsageError(f"trust: {value} is not trusted for {printable(args.user)}"
                             + (f" on {printable(host)}" if host else ""))
        until = _until(args.until, settings.tz) if args.until else None
        if until is not None and until <= datetime.now(timezone.utc).timestamp():
            raise UsageError(f"trust --until {args.until}: that time has passed")
        store.add_trust(host, args.user, kind, value, until)
    print(_trusted(args.user, value, host, until, settings.tz))
    return errors.OK


def _trusted(user: str, value: str, host: str, until: float | None, tz: tzinfo) -> str:
    where = f"on {printable(host)}" if host else "on every host"
    when = f"until {_when(until, tz)}" if until is not None else "with no end"
    return f"{printable(user)}: {value} is trusted {where} {when}"


def _until(text: str, tz: tzinfo) -> float:
    d = config.parse_duration(text)
    if d is not None:
        return datetime.now(timezone.utc).timestamp() + d.total_seconds()
    return parse_time(text, tz, "--until", "or a duration such as 30d").timestamp()


def _when(ts: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()

