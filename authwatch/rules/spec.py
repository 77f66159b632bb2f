"""The `rules:`, `quiet_hours:` and `digest_at:` sections of the
configuration: checked with the place of every mistake, and built into `Rule`
objects and time windows.

An unknown key in a rule or a `match` is an error, not a warning: ignoring a
misspelled condition (`usr: root`) would widen the rule, and an `ignore` rule
would then swallow every login. Target names in `notify` are checked against
`targets:` once every section is read (`cross_check`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from authwatch import event as ev
from authwatch.config import _INVALID, _Checker, _duration, _number, _type_name
from authwatch.rules import ACTIONS, QUIET_MODES, SEVERITIES, Rule, conditions
from authwatch.rules.conditions import All, AnyOf, Condition, Not
from authwatch.rules.schedule import covers_the_week, parse_clock, parse_days, window

RULE_KEYS = ("name", "match", "action", "severity", "notify", "cooldown", "during_quiet_hours", "window", "threshold")
WINDOW_KEYS = ("days", "from", "to")
METHODS = ("password", "publickey", "keyboard-interactive", "keyboard-interactive/pam", "hostbased",
           "gssapi-with-mic", "gssapi-keyex", "none")
SESSIONS = (ev.SHELL, ev.EXEC, ev.SFTP, ev.UNKNOWN)
NOVELTY = ("none", "first_login", "learning", "new_ip", "new_network", "new_asn", "new_country", "new_key")
NAME_LIMIT = 100  # characters of a rule's name (it is shown in messages)
DEFAULT_DIGEST_AT = (8 * 60,)  # 08:00
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_ASN = re.compile(r"^(?:AS)?(\d+)$", re.IGNORECASE)
_ONLY_FOR = {"window": "summarize", "threshold": "summarize"}
_UNUSED_WITH_IGNORE = ("severity", "notify", "cooldown", "during_quiet_hours")


# -- quiet_hours, digest_at ---------------------------------------------------


def quiet_hours(check: _Checker, path: tuple, value: Any) -> Any:
    windows = _windows(check, path, value, "quiet hours")
    if windows is not _INVALID and covers_the_week(windows):
        return check.error(path, "these quiet hours cover the whole week: only critical alerts would ever be sent "
                                 "and the digest never")
    return windows


def _windows(check: _Checker, path: tuple, value: Any, what: str) -> Any:
    """One window (a mapping) or a list of them."""
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        got = "an empty list" if items == [] else _type_name(value)
        return check.error(path, f"expected {what}: a list of {{days: mon-fri, from: \"22:00\", to: \"07:00\"}} "
                                 f"(days alone: all day), got {got}")
    out = []
    for i, item in enumerate(items):
        where = path + (i,) if isinstance(value, list) else path
        w = _window(check, where, item)
        if w is not _INVALID:
            out.append(w)
    return tuple(out) if len(out) == len(items) else _INVALID


def _window(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, dict):
        return check.error(path, f"expected a window such as {{days: mon-fri, from: \"22:00\", to: \"07:00\"}}, "
                                 f"got {_type_name(value)}")
    for key in value:
        if key not in WINDOW_KEYS:
            check.unknown(path + (key,), key, WINDOW_KEYS, fatal=True)
    try:
        days = parse_days(value["days"]) if "days" in value else frozenset(range(7))
    except ValueError as e:
        return check.error(path + ("days",), str(e))
    clock = {}
    for key in ("from", "to"):
        if key in value:
            try:
                clock[key] = parse_clock(value[key], midnight=key == "to")
            except ValueError as e:
                return check.error(path + (key,), str(e))
    try:
        return window(days, clock.get("from"), clock.get("to"))
    except ValueError as e:
        return check.error(path, str(e))


def digest_at(check: _Checker, path: tuple, value: Any) -> Any:
    if value is False or value == "off" or value == []:
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(parse_clock(item))
        except ValueError as e:
            check.error(path + (i,) if isinstance(value, list) else path, f"{e}, or off")
    return tuple(sorted(set(out))) if len(out) == len(items) else _INVALID


# -- rules --------------------------------------------------------------------


def rules(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, list):
        return check.error(path, f"expected a list of rules (- name: ..., match: {{...}}, action: ...), "
                                 f"got {_type_name(value)}")
    out: list[Rule] = []
    names: dict[str, int] = {}
    for i, item in enumerate(value):
        rule = _rule(check, path + (i,), item, i + 1)
        if rule is _INVALID:
            continue
        if rule.name in names:
            check.error(path + (i, "name"), f"rule {names[rule.name]} has the same name: names must be unique "
                                            "(they key cooldowns and summaries, and are shown in alerts)")
        names[rule.name] = rule.index
        out.append(rule)
    if len(out) == len(value):
        _shadowed(check, path, out)
    return tuple(out)  # with errors, the valid ones: cross_check still checks their targets


def _shadowed(check: _Checker, path: tuple, rules_: list[Rule]) -> None:
    """Warn about each rule that an earlier one leaves nothing to match."""
    covered: dict[str, Rule] = {}  # kind -> the first rule that matches every event of it
    for rule in rules_:
        if rule.kinds and rule.kinds <= covered.keys():
            by = sorted({covered[k].index for k in rule.kinds})
            said = ", ".join(f"rule {n} {rules_[n - 1].name!r}" for n in by)
            check.warn(path + (rule.index - 1,), f"rule {rule.index} {rule.name!r} can never match: {said} before it "
                                                 f"matches every {_kinds_words(rule.kinds)} event")
        if rule.always:
            for kind in rule.kinds:
                covered.setdefault(kind, rule)


def _kinds_words(kinds: frozenset[str]) -> str:
    return " and ".join(sorted(kinds))


def _rule(check: _Checker, path: tuple, value: Any, index: int) -> Any:
    if not isinstance(value, dict):
        return check.error(path, f"expected a rule: a mapping with action: (and name:, match:, ...), "
                                 f"got {_type_name(value)}")
    errors = len(check.errors)
    for key in value:
        if key not in RULE_KEYS:
            check.unknown(path + (key,), key, RULE_KEYS, fatal=True)
    name = value.get("name", f"rule {index}")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LIMIT:
        check.error(path + ("name",), f"expected a name of 1 to {NAME_LIMIT} characters, got {name!r}")
    if "action" not in value:
        check.error(path, f"every rule needs an action: {', '.join(ACTIONS)}")
        action = None
    else:
        action = check.choice(path + ("action",), value["action"], ACTIONS, "an action")
    match = _match(check, path + ("match",), value["match"]) if "match" in value else None
    fields: dict[str, Any] = {}
    parsers: dict[str, Callable[[tuple, Any], Any]] = {
        "severity": lambda p, v: check.choice(p, v, SEVERITIES, "a severity"),
        "notify": lambda p, v: _notify(check, p, v),
        "cooldown": lambda p, v: _duration(check, p, v, timedelta(seconds=1), timedelta(days=30)),
        "during_quiet_hours": lambda p, v: check.choice(p, v, QUIET_MODES, "what to do during quiet hours"),
        "window": lambda p, v: _duration(check, p, v, timedelta(minutes=1), timedelta(days=1)),
        "threshold": lambda p, v: _number(check, p, v, 1, 1_000_000_000, whole=True),
    }
    for key, parse in parsers.items():
        if key in value:
            fields[key] = parse(path + (key,), value[key])
    if len(check.errors) > errors or action is _INVALID or match is _INVALID:
        return _INVALID
    for key in fields:
        needs = _ONLY_FOR.get(key)
        if (needs and action != needs) or (action == "ignore" and key in _UNUSED_WITH_IGNORE):
            check.warn(path + (key,), f"{key} has no effect with action {action}", key=True)
    if action == "digest" and fields.get("severity") == "critical":
        return check.error(path + ("severity",), "a critical alert always goes out at once: use action alert, "
                                                 "or a lower severity to defer it into the digest")
    kinds = match.kinds() if match is not None else frozenset()
    return Rule(index=index, name=name, kinds=kinds or frozenset((ev.LOGIN,)), action=action, match=match,
                **fields)


def _notify(check: _Checker, path: tuple, value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        return check.error(path, f"expected target names from targets:, such as [ops-mail, chat], got {value!r}")
    return tuple(dict.fromkeys(items))


def cross_check(check: _Checker, values: dict[str, Any]) -> None:
    """What one section says about another: `notify` names configured
    targets; a `digest` rule has a time to send its digest."""
    targets = values.get("targets", {})
    rules_ = values.get("rules", ())
    for rule in rules_:
        for i, name in enumerate(rule.notify or ()):
            if name not in targets:
                path = ("rules", rule.index - 1, "notify") + ((i,) if len(rule.notify or ()) > 1 else ())
                if targets:
                    check.choice(path, name, tuple(targets), "one of the targets")
                else:
                    check.error(path, f"no target named {name!r}: no targets are configured (targets:)")
    defers = [r for r in rules_ if r.action == "digest"]
    if defers and not values.get("quiet_hours") and values.get("digest_at", DEFAULT_DIGEST_AT) == ():
        check.error(("digest_at",), f"rule {defers[0].index} {defers[0].name!r} defers alerts into the digest, "
                                    "but with digest_at off and no quiet_hours nothing would ever send it")


# -- match --------------------------------------------------------------------


def _match(check: _Checker, path: tuple, value: Any) -> Any:
    """A mapping of conditions, all of which must hold."""
    if not isinstance(value, dict):
        return check.error(path, "expected a mapping of conditions such as {user: root, ip: 203.0.113.0/24} "
                                 f"(leave match out to match every event), got {_type_name(value)}")
    parts = []
    for key, item in value.items():
        build = _CONDITIONS.get(key)
        if build is None:
            check.unknown(path + (key,), key, _CONDITIONS, fatal=True)
            continue
        part = build(check, path + (key,), item)
        if part is not _INVALID:
            parts.append(part)
    return All(parts) if len(parts) == len(value) else _INVALID


def _items(check: _Checker, path: tuple, value: Any, what: str, accept: Callable[[tuple, Any], Any]) -> Any:
    """A value or a list of values (any of them), each checked by `accept`."""
    items = value if isinstance(value, list) else [value]
    if not items:
        return check.error(path, f"expected {what}, got an empty list")
    out = []
    for i, item in enumerate(items):
        parsed = accept(path + (i,) if isinstance(value, list) else path, item)
        if parsed is not _INVALID:
            out.append(parsed)
    return out if len(out) == len(items) else _INVALID


def _strings(what: str) -> Callable[[_Checker, tuple, Any], Any]:
    def accept(check: _Checker, path: tuple, value: Any) -> Any:
        if isinstance(value, str) and value:
            return value
        return check.error(path, f"expected {what}, got {value!r}" + (" (quote it)" if value is not None else ""))

    return accept


def _kind(check: _Checker, path: tuple, value: Any) -> Any:
    kinds = _items(check, path, value, "event kinds",
                   lambda p, v: check.choice(p, v, ev.KINDS, "an event kind"))
    return kinds if kinds is _INVALID else conditions.kind(kinds)


def _names(key: str, what: str) -> Callable[[_Checker, tuple, Any], Condition | object]:
    def build(check: _Checker, path: tuple, value: Any) -> Any:
        names = _items(check, path, value, what, lambda p, v: _strings(what)(check, p, v))
        return names if names is _INVALID else conditions.name(key, names)

    return build


def _network(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, str):
        return check.error(path, f"expected an address or a network such as 203.0.113.0/24 or 2001:db8::/32, "
                                 f"got {value!r}")
    try:
        return ipaddress.ip_network(value.strip())
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return check.error(path, f"expected an address or a network such as 203.0.113.0/24 or 2001:db8::/32, "
                                 f"got {value!r}")
    return check.error(path, f"{value} has bits set after the prefix length; did you mean {loose.with_prefixlen}?")


def _ip(check: _Checker, path: tuple, value: Any) -> Any:
    networks = _items(check, path, value, "addresses or networks", lambda p, v: _network(check, p, v))
    return networks if networks is _INVALID else conditions.ip(networks)


def _country(check: _Checker, path: tuple, value: Any) -> Any:
    def accept(p: tuple, v: Any) -> Any:
        if isinstance(v, str) and _COUNTRY.match(v):
            return v.upper()
        return check.error(p, f"expected a two-letter country code (ISO 3166-1) such as GB or BR, got {v!r}")

    codes = _items(check, path, value, "country codes", accept)
    return codes if codes is _INVALID else conditions.country(codes)


def _asn(check: _Checker, path: tuple, value: Any) -> Any:
    def accept(p: tuple, v: Any) -> Any:
        m = _ASN.match(v.strip()) if isinstance(v, str) else None
        n = int(m.group(1)) if m else v if isinstance(v, int) and not isinstance(v, bool) else -1
        if 0 <= n <= 4_294_967_295:
            return n
        return check.error(p, f"expected an AS number such as 64500 or AS64500, got {v!r}")

    numbers = _items(check, path, value, "AS numbers", accept)
    return numbers if numbers is _INVALID else conditions.asn(numbers)


def _method(check: _Checker, path: tuple, value: Any) -> Any:
    methods = _items(check, path, value, "methods", lambda p, v: check.choice(p, v, METHODS, "an sshd method"))
    return methods if methods is _INVALID else conditions.method(methods)


def _key(check: _Checker, path: tuple, value: Any) -> Any:
    keys = _items(check, path, value, "key fingerprints or names",
                  lambda p, v: _strings("a key fingerprint (SHA256:...) or a key name")(check, p, v))
    if keys is _INVALID:
        return keys
    prints = [k for k in keys if k.startswith(("SHA256:", "MD5:"))]
    return conditions.key(prints, [k for k in keys if k not in prints])


def _session(check: _Checker, path: tuple, value: Any) -> Any:
    kinds = _items(check, path, value, "session types",
                   lambda p, v: check.choice(p, v, SESSIONS, "a session type"))
    return kinds if kinds is _INVALID else conditions.session(kinds)


def _novelty(check: _Checker, path: tuple, value: Any) -> Any:
    flags = _items(check, path, value, "novelty flags", lambda p, v: check.choice(p, v, NOVELTY, "a novelty flag"))
    return flags if flags is _INVALID else conditions.novelty(flags)


def _impossible_travel(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, bool):
        return check.error(path, f"expected true or false, got {value!r}")
    return conditions.impossible_travel(value)


def _after_failures(check: _Checker, path: tuple, value: Any) -> Any:
    least = _number(check, path, value, 1, 1_000_000_000, whole=True)
    return least if least is _INVALID else conditions.after_failures(least)


def _time(check: _Checker, path: tuple, value: Any) -> Any:
    windows = _windows(check, path, value, "time windows")
    return windows if windows is _INVALID else conditions.time_of_day(windows)


def _group(make: type[All]) -> Callable[[_Checker, tuple, Any], Any]:
    """`any`/`all`: a list of matches, or one mapping whose keys are the parts."""

    def build(check: _Checker, path: tuple, value: Any) -> Any:
        if isinstance(value, dict):
            inner = _match(check, path, value)
            return inner if inner is _INVALID else make(inner.parts)
        if not isinstance(value, list) or not value:
            got = "an empty list" if value == [] else _type_name(value)
            return check.error(path, f"expected a list of matches such as [{{user: root}}, "
                                     f"{{impossible_travel: true}}], got {got}")
        parts = [_match(check, path + (i,), item) for i, item in enumerate(value)]
        if _INVALID in parts:
            return _INVALID
        return make([p.parts[0] if len(p.parts) == 1 else p for p in parts])  # {user: root} is just that

    return build


def _not(check: _Checker, path: tuple, value: Any) -> Any:
    inner = _group(AnyOf)(check, path, value) if isinstance(value, list) else _match(check, path, value)
    return inner if inner is _INVALID else Not(inner)


_CONDITIONS: dict[str, Callable[[_Checker, tuple, Any], Any]] = {
    "kind": _kind,
    "user": _names("user", "user names or patterns such as admin*"),
    "ip": _ip,
    "country": _country,
    "asn": _asn,
    "host": _names("host", "host names or patterns such as web*"),
    "method": _method,
    "key": _key,
    "session": _session,
    "novelty": _novelty,
    "impossible_travel": _impossible_travel,
    "after_failures": _after_failures,
    "time": _time,
    "any": _group(AnyOf),
    "all": _group(All),
    "not": _not,
}
