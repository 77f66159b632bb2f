"""`authwatch check`: validate the configuration without sending anything."""

from __future__ import annotations

import argparse

from authwatch import check, config, errors
from authwatch.console import add_config_option, load_settings, warn


def add_commands(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "check",
        help="validate the configuration, without sending anything",
        description="Load the configuration (--config PATH, else the search path) and check everything that can "
        "be checked without sending: YAML, keys and values (each error with file:line:column, the key path, what "
        "was expected, and a 'did you mean' for a misspelled key), rules, target URLs (built, not connected to: "
        "test-notify sends), and warn about unknown keys, rules that can never match, a file that holds "
        "secrets and others may read, an unset ${NAME} in a target URL (the commands that send refuse it), a state "
        "directory this user cannot make or write in, 'sources: auto' with no system log and no journal files, a "
        "missing or stale GeoIP database, sshd logging below LogLevel VERBOSE, and a sendmail:// target whose "
        "program is missing or not executable. Prints what the configuration sets. Exit 0 when it is usable "
        "(warnings alone exit 0), 3 when "
        "it is not.",
        epilog="Examples:\n  authwatch check\n  authwatch check --config /etc/authwatch/config.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(c)
    c.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, sends=False)
    for warning in check.warnings(settings):
        warn(warning)
    if settings.file is None:
        print(f"no configuration file ({config.search_text()}): the built-in defaults hold")
    else:
        print(f"{settings.file}: valid")
    print("\n".join(check.summary(settings)))
    return errors.OK
