"""The conditions of a rule's `match`, built once from the configuration and
tested for each event.

`test(event, tz, trace)` decides; when `trace` is a list it also appends a
`Step` saying in words what it found and whether that matched. The decision
and its explanation (`replay --explain`) are therefore the same call, never a
second implementation that could drift from the first.

Keys inside one `match` must all hold (`All`); a list value means any of its
items; `any`, `all` and `not` nest. The leaves are built by the functions at
the end of this module, from values the configuration already checked.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import tzinfo
from typing import Any, NamedTuple

from authwatch.event import FORGED, KINDS, Event
from authwatch.rules.schedule import Window


class Step(NamedTuple):
    """One condition tested: what it said, whether it held, and its parts."""

    text: str
    ok: bool
    children: tuple[Step, ...] = ()


class Condition:
    key: str

    def test(self, e: Event, tz: tzinfo, trace: list[Step] | None = None) -> bool:
        raise NotImplementedError

    def kinds(self) -> frozenset[str]:
        """The event kinds this condition names anywhere (`kind:` leaves;
        inside `not`, the kinds it leaves open: see Not.kinds)."""
        return frozenset()

    def by_kind(self, kind: str) -> bool | None:
        """Whether it holds for every (True) or no (False) event of `kind`,
        as far as the kind alone tells; None: it depends on more."""
        return None


class Leaf(Condition):
    """One key: the event's value for it (`value`), and whether that is wanted."""

    def __init__(self, key: str, wanted: str, value: Callable[[Event, tzinfo], Any], accepts: Callable[[Any], bool],
                 show: Callable[[Any], str] = str, kinds: frozenset[str] = frozenset()):
        self.key, self.wanted, self.value, self.accepts, self.show, self._kinds = key, wanted, value, accepts, show, kinds

    def test(self, e: Event, tz: tzinfo, trace: list[Step] | None = None) -> bool:
        value = self.value(e, tz)
        ok = bool(self.accepts(value))
        if trace is not None:
            trace.append(Step(f"{self.key} {self.show(value)}: {'matches' if ok else 'does not match'} {self.wanted}", ok))
        return ok

    def kinds(self) -> frozenset[str]:
        return self._kinds

    def by_kind(self, kind: str) -> bool | None:
        return kind in self._kinds if self.key == "kind" else None


class All(Condition):
    """Every part holds (stops at the first that does not)."""

    key = "all"

    def __init__(self, parts: Sequence[Condition]):
        self.parts = tuple(parts)

    def test(self, e: Event, tz: tzinfo, trace: list[Step] | None = None) -> bool:
        steps: list[Step] | None = None if trace is None else []
        ok = True
        for part in self.parts:
            if not part.test(e, tz, steps):
                ok = False
                break
        if trace is not None:
            trace.append(Step("all of:", ok, tuple(steps or ())))
        return ok

    def kinds(self) -> frozenset[str]:
        return frozenset().union(*(p.kinds() for p in self.parts))

    def by_kind(self, kind: str) -> bool | None:
        said = [p.by_kind(kind) for p in self.parts]
        return False if False in said else True if all(said) else None


class AnyOf(All):
    """At least one part holds (stops at the first that does)."""

    key = "any"

    def test(self, e: Event, tz: tzinfo, trace: list[Step] | None = None) -> bool:
        steps: list[Step] | None = None if trace is None else []
        ok = False
        for part in self.parts:
            if part.test(e, tz, steps):
                ok = True
                break
        if trace is not None:
            trace.append(Step("any of:", ok, tuple(steps or ())))
        return ok

    def by_kind(self, kind: str) -> bool | None:
        said = [p.by_kind(kind) for p in self.parts]
        return True if True in said else False if not any(s is None for s in said) else None


class Not(Condition):
    key = "not"

    def __init__(self, part: Condition):
        self.part = part

    def test(self, e: Event, tz: tzinfo, trace: list[Step] | None = None) -> bool:
        steps: list[Step] | None = None if trace is None else []
        ok = not self.part.test(e, tz, steps)
        if trace is not None:
            trace.append(Step("not:", ok, tuple(steps or ())))
        return ok

    def kinds(self) -> frozenset[str]:
        """Every kind for which the inner condition may fail: `not: {kind:
        login}` is every kind but login. Never `forged`, which a rule takes
        on only by naming it (else it alerts as critical); and none when the
        inner condition names no kind (the rule is then about logins)."""
        if not self.part.kinds():
            return frozenset()
        return frozenset(k for k in KINDS if k != FORGED and self.part.by_kind(k) is not True)

    def by_kind(self, kind: str) -> bool | None:
        said = self.part.by_kind(kind)
        return None if said is None else not said


# -- the leaves ---------------------------------------------------------------


def _listed(items: Iterable[Any]) -> str:
    return ", ".join(str(i) for i in items)


def _or_none(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _geo(attribute: str) -> Callable[[Event, tzinfo], Any]:
    return lambda e, tz: getattr(e.geo, attribute) if e.geo is not None else None


def _field(attribute: str) -> Callable[[Event, tzinfo], Any]:
    return lambda e, tz: getattr(e, attribute)


def globs(patterns: Sequence[str]) -> Callable[[str], bool]:
    """One compiled test for shell patterns (`*`, `?`, `[...]`), case-sensitive."""
    rx = re.compile("|".join(fnmatch.translate(p) for p in patterns), re.DOTALL)
    return lambda text: rx.match(text) is not None


def kind(kinds: Sequence[str]) -> Leaf:
    wanted = frozenset(kinds)
    return Leaf("kind", _listed(kinds), _field("kind"), wanted.__contains__, kinds=wanted)


def name(key: str, patterns: Sequence[str]) -> Leaf:
    """`user`, `host`: names or shell patterns."""
    matches = globs(patterns)
    return Leaf(key, _listed(patterns), _field(key), lambda v: v is not None and matches(v), _or_none)


def ip(networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> Leaf:
    def inside(value: str | None) -> bool:
        if value is None:
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return any(address in n for n in networks)

    return Leaf("ip", _listed(n.with_prefixlen if n.num_addresses > 1 else n.network_address for n in networks),
                _field("ip"), inside, _or_none)


def country(codes: Sequence[str]) -> Leaf:
    return Leaf("country", _listed(codes), _geo("country_code"), frozenset(codes).__contains__, _or_none)


def asn(numbers: Sequence[int]) -> Leaf:
    return Leaf("asn", _listed(f"AS{n}" for n in numbers), _geo("asn"), frozenset(numbers).__contains__,
                lambda v: "(none)" if v is None else f"AS{v}")


def method(methods: Sequence[str]) -> Leaf:
    """Any of the methods the login used (every factor of a multi-factor
    login); `keyboard-interactive` also matches sshd's `keyboard-interactive/pam`."""
    wanted = frozenset(methods)

    def used(e: Event, tz: tzinfo) -> tuple[str, ...]:
        return e.methods or ((e.method,) if e.method else ())

    return Leaf("method", _listed(methods), used,
                lambda v: any(m in wanted or m.split("/", 1)[0] in wanted for m in v),
                lambda v: " + ".join(v) or "(none)")


def key(fingerprints: Sequence[str], names: Sequence[str]) -> Leaf:
    """A key fingerprint (`SHA256:...`, `MD5:...`) or the key's name (its
    comment in authorized_keys; shell patterns)."""
    prints = frozenset(fingerprints)
    named = globs(names) if names else None

    def accepts(v: tuple[str | None, str | None]) -> bool:
        fingerprint, key_name = v
        return fingerprint in prints or (named is not None and key_name is not None and named(key_name))

    return Leaf("key", _listed((*fingerprints, *names)), lambda e, tz: (e.key, e.key_name), accepts,
                lambda v: " ".join(x for x in v if x) or "(none)")


def session(types: Sequence[str]) -> Leaf:
    return Leaf("session", _listed(types), _field("session"), frozenset(types).__contains__, _or_none)


def novelty(flags: Sequence[str]) -> Leaf:
    """Any of the flags; `none`: nothing new."""
    wanted = frozenset(flags)
    none = "none" in wanted

    def accepts(v: tuple[str, ...]) -> bool:
        return (none and not v) or any(f in wanted for f in v)

    return Leaf("novelty", _listed(flags), _field("novelty"), accepts, lambda v: ", ".join(v) or "(nothing new)")


def impossible_travel(wanted: bool) -> Leaf:
    return Leaf("impossible_travel", str(wanted).lower(), _field("impossible_travel"), lambda v: v is wanted,
                lambda v: str(v).lower())


def after_failures(least: int) -> Leaf:
    return Leaf("after_failures", f"at least {least}", _field("after_failures"), lambda v: v >= least)


def time_of_day(windows: Sequence[Window]) -> Leaf:
    def local(e: Event, tz: tzinfo):
        return e.time.astimezone(tz)

    return Leaf("time", "; ".join(w.text for w in windows), local,
                lambda t: any(w.contains(t) for w in windows), lambda t: t.strftime("%a %H:%M %Z"))
