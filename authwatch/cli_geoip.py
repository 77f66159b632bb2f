"""`authwatch geoip update` and `authwatch geoip lookup IP` (arguments in,
printing out; the work is in authwatch/enrich/)."""

from __future__ import annotations

import argparse
import json

from authwatch import errors
from authwatch.console import add_config_option, error, load_settings, warn
from authwatch.enrich import describe, ipscope
from authwatch.enrich.enricher import missing_geoip, open_geoip
from authwatch.enrich.geoip import DBIP_CREDIT
from authwatch.errors import UsageError
from authwatch.event import Geo
from authwatch.parse.sshd import canonical_ip


def add_commands(sub: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    g = sub.add_parser(
        "geoip",
        help="fetch GeoIP databases, or show where an address is",
        description="GeoIP comes from local .mmdb files only (MaxMind GeoLite2/GeoIP2 or DB-IP Lite): no "
        "address is ever sent anywhere.",
    )
    gsub = g.add_subparsers(title="commands", metavar="COMMAND")
    u = gsub.add_parser(
        "update",
        help="download this month's DB-IP Lite City and ASN databases",
        description="Download the monthly DB-IP Lite City and ASN databases (free, CC BY 4.0, no account "
        "needed), check them, and replace the old files atomically: a failed download or a bad file leaves "
        "the old database in place. They go to geoip.directory (default: 'geoip' beside the state "
        "database, which the service may write). Run it monthly: contrib/ has a systemd timer and a cron line.",
        epilog="Exit status 1 if an edition could not be updated.\n\nExamples:\n  authwatch geoip update\n"
        "  authwatch geoip update --directory /var/lib/GeoIP",
        formatter_class=raw,
    )
    u.add_argument("--directory", metavar="DIR", help="write here instead of geoip.directory")
    u.add_argument("--quiet", action="store_true", help="print nothing unless something fails (for cron)")
    add_config_option(u)
    u.set_defaults(func=_update)
    lk = gsub.add_parser(
        "lookup",
        help="show what an address enriches to",
        description="Show what a login from IP would carry: its scope, place, coordinates and network, and "
        "which databases said so.",
        epilog="Example:\n  authwatch geoip lookup 81.2.69.160",
        formatter_class=raw,
    )
    lk.add_argument("ip", metavar="IP")
    lk.add_argument("--json", action="store_true", help="the geo object as in replay --json")
    add_config_option(lk)
    lk.set_defaults(func=_lookup)
    g.set_defaults(func=lambda args: (g.print_help(), errors.USAGE)[1])


def _update(args: argparse.Namespace) -> int:
    from authwatch.enrich import geoupdate  # urllib: loaded only for this command

    settings = load_settings(args.config, sends=False)
    directory = args.directory or settings.geoip_directory
    outcomes = geoupdate.update(settings.geoip.update_url, directory)
    for o in outcomes:
        if o.ok:
            if not args.quiet:
                print(f"{o.edition}: {o.path}: {o.message}")
        else:
            error(f"{o.edition}: {o.path}: {o.message}")
    if not args.quiet and any(o.ok for o in outcomes):
        print(f"({DBIP_CREDIT})")
    return errors.OK if all(o.ok for o in outcomes) else errors.RUNTIME


def _lookup(args: argparse.Namespace) -> int:
    ip = canonical_ip(args.ip.strip())  # as the parser gives it: ::ffff:1.2.3.4 is 1.2.3.4
    if ip is None:
        raise UsageError(f"geoip lookup: {args.ip!r} is not an IPv4 or IPv6 address")
    settings = load_settings(args.config, sends=False)
    db = open_geoip(settings)
    missing = missing_geoip(settings)
    if missing:
        warn(missing)
    if db is not None:
        for w in db.take_warnings():
            warn(w)
    geo = db.lookup(ip) if db is not None else Geo(ipscope.scope(ip))
    if args.json:
        print(json.dumps(geo._asdict(), ensure_ascii=False))
        return errors.OK
    rows = [("address", ip), ("scope", geo.scope)]
    if geo.scope != "public":
        unknown = "-"
    elif db is None:
        unknown = "unknown: GeoIP is off (geoip: false)" if not settings.geoip.enabled else "unknown: no database"
    else:
        unknown = "not in the database"
    rows.append(("place", describe.where(geo) or unknown))
    if geo.lat is not None:
        radius = f", within {geo.accuracy_km:,} km" if geo.accuracy_km else ""
        rows.append(("location", f"{geo.lat:.4f}, {geo.lon:.4f}{radius}"))
    rows.append(("network", describe.network(geo) or "-"))
    for d in db.databases if db is not None else []:
        rows.append(("database", f"{d.path} ({d.type}, built {d.built:%Y-%m-%d})"))
    if geo.attribution:
        rows.append(("credit", geo.attribution))
    for k, v in rows:
        print(f"{k:<9} {v}")
    return errors.OK
