"""Events and alerts written to a terminal or as JSON lines.

Everything shown comes from a log line and is untrusted: control characters
(terminal escapes, CR, LF) are shown as `\\xNN` and very long values are cut,
so a user name cannot rewrite the screen or fake another line.
"""

from __future__ import annotations

import json
import re
from datetime import timezone
from typing import Any

from authwatch import event as ev
from authwatch.enrich import describe
from authwatch.event import Deferred, Event, event_id, to_json
from authwatch.rules import Decision

# Control characters, line and paragraph separators, and the characters that
# are invisible or reorder text (Unicode "format" characters, bidi marks, zero
# widths, invisible fillers, variation selectors, tags): shown as escapes, so
# `ro\u200bot` or a right-to-left override cannot pass for another name.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)
MAX_SHOWN = 200


def printable(value: Any, limit: int = MAX_SHOWN) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters)"
    return _CONTROL.sub(_escape, text)


def user_shown(user: str | None) -> str:
    """A user name for a line that goes on with `@host from ...`: quoted when
    it holds a space, a quote or an `@`, so that a name such as
    `x from 6.6.6.6 port 22` cannot read as the address."""
    return "?" if user is None else quoted(printable(user))


def quoted(name: str) -> str:
    """`name` in double quotes if it is empty or holds a space, a quote or an
    `@`, a quote in it written `\\x22` as printable() writes control
    characters; else as it is."""
    if not name or _NEEDS_QUOTES.search(name):
        return '"' + name.replace('"', "\\x22") + '"'
    return name


_NEEDS_QUOTES = re.compile(r"[\s\"'@]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


def json_line(event: Event, decision: Decision | None, alert_id: str | None = None) -> str:
    d = to_json(event)
    d["alert"] = (
        {"id": alert_id or event_id(event), "severity": decision.severity, "rule": decision.rule,
         "reasons": list(decision.reasons), "targets": list(decision.targets), "held": decision.action == "digest"}
        if decision is not None and decision.action in ("alert", "digest")
        else None
    )
    if decision is not None and decision.trace is not None:
        d["explain"] = list(decision.trace)
    return json.dumps(d, ensure_ascii=False)


_TITLES = {
    ev.LOGIN: "LOGIN",
    ev.FAILURE: "FAILED",
    ev.INVALID_USER: "INVALID USER",
    ev.LOGOUT: "LOGOUT",
    ev.SESSION: "SESSION",
    ev.DISCONNECT: "DISCONNECT",
    ev.PARTIAL: "PARTIAL",
    ev.KEY_FOUND: "KEY",
    ev.FORGED: "FORGED",
    ev.SUMMARY: "SUMMARY",
    ev.DIGEST: "DIGEST",
}


def block(event: Event, decision: Decision | None) -> str:
    """A readable block for a person at a terminal."""
    if event.summary is not None or event.digest is not None:
        return _report(event, decision)
    title, host = _TITLES.get(event.kind, event.kind.upper()), printable(event.host or "?")
    head = f"{title}  {user_shown(event.user)}@{host}" if event.user is not None else f"{title}  on {host}"
    if event.ip:
        head += f"  from {event.ip}" + (f" port {event.port}" if event.port is not None else "")
    rows = [("time", _time(event))]
    if event.forged:
        f = event.forged
        rows.append(("claims", f"{f.claimed_kind} by {printable(f.claimed_ident or '?')}[{f.claimed_pid}]"))
        rows.append(("written", f"uid {f.uid} pid {f.pid} comm {printable(f.comm or '-')} exe {printable(f.exe or '-')}"))
    rows += _geo_rows(event)
    if event.methods or event.method:
        method = printable(" + ".join(event.methods) if len(event.methods) > 1 else (event.method or ""))
        if event.key:
            method += f"  ({printable(event.key_type)} {printable(event.key)})"
        rows.append(("method", method))
    elif event.key:  # sshd's "Accepted key ... found at": the key, before the login that used it
        rows.append(("key", f"{printable(event.key_type)} {printable(event.key)}"))
    if event.cert:
        c = event.cert
        rows.append(("cert", f"ID {printable(c.id)} serial {c.serial}, CA {printable(c.ca_key_type)} {printable(c.ca_key)}"))
    if event.key_name:
        rows.append(("key name", printable(event.key_name)))
    if event.key_location:
        rows.append(("key file", printable(event.key_location)))
    if event.session:
        rows.append(("session", printable(event.session) + (f" on {printable(event.tty)}" if event.tty else "")))
    if event.detail:
        rows.append(("detail", printable(event.detail)))
    if event.record is not None and event.kind == ev.LOGIN:
        where = f"  (record {printable(event.record.source, 400)})" if event.record.source != event.source else ""
        rows.append(("seen by", ev.seen_by(event.ident) + where))
    if event.kind == ev.LOGIN:
        rows += _history_rows(event)
    rows += _decision_rows(decision)
    if event.source:
        rows.append(("source", printable(event.source, 400)))
    return _rows(head, rows)


def _rows(head: str, rows: list[tuple[str, str]]) -> str:
    return head + "\n" + "".join(f"    {k:<9} {v}\n" for k, v in rows)


def _decision_rows(decision: Decision | None) -> list[tuple[str, str]]:
    rows = []
    if decision is not None and decision.action in ("alert", "digest"):
        why = "; ".join(decision.reasons) or "-"
        rows.append(("why", f"{printable(why)}  [{decision.severity}" + (f", rule: {printable(decision.rule)}]" if decision.rule else "]")
                     + ("  held for the digest" if decision.action == "digest" else "")))
    if decision is not None and decision.trace is not None:
        rows += [("rules" if i == 0 else "", printable(line, 400)) for i, line in enumerate(decision.trace)]
    return rows


def _report(event: Event, decision: Decision | None) -> str:
    """A summary or a digest."""
    where = f"  on {printable(event.host)}" if event.host else ""
    s, g = event.summary, event.digest
    if s is not None:
        head = f"SUMMARY  {printable(event.detail or '?')}{where}"
        rows = [("window", f"{_local(s.start)} - {_local(s.end)}")]
        for label, pairs, n in (("addresses", s.ips, s.ip_count), ("users", s.users, s.user_count),
                                ("hosts", s.hosts, len(s.hosts))):
            if pairs and (label != "hosts" or len(pairs) > 1):
                more = f", ... ({n:,} in all)" if n > len(pairs) else ""
                rows.append((label, printable(", ".join(f"{k} ({c:,})" for k, c in pairs) + more, 1000)))
    else:
        head = f"DIGEST  {g.total:,} alert{'s' if g.total != 1 else ''} held{where}"
        rows = [("time", _time(event)), ("held", f"{_local(g.start)} - {_local(g.end)}")]
        rows += [("alert", printable(f"{_local(a.time)}  {_held_who(a)} — {a.why}  [{a.severity}"
                                     + (f", rule: {a.rule}]" if a.rule else "]"), 400)) for a in g.alerts]
        if g.total > len(g.alerts):
            rows.append(("alert", f"... and {g.total - len(g.alerts):,} more"))
    return _rows(head, rows + _decision_rows(decision))


def _held_who(a: Deferred) -> str:
    """alice@web1 from 198.51.100.7 (BR), or the host alone (a summary)."""
    if a.user is None and a.ip is None:
        return a.host or "several hosts"
    who = f"{a.user or '?'}@{a.host or '?'}"
    return who + (f" from {a.ip}" + (f" ({a.country_code})" if a.country_code else "") if a.ip else "")


def _local(t) -> str:
    return t.isoformat(sep=" ", timespec="seconds")


def _geo_rows(event: Event) -> list[tuple[str, str]]:
    geo = event.geo
    rows = []
    where = describe.where(geo)
    if where:
        if geo is not None and geo.lat is not None and geo.accuracy_km:
            where += f"  (within {geo.accuracy_km:,} km)"
        rows.append(("place", printable(where)))
    network = describe.network(geo)
    if network:
        rows.append(("network", printable(network)))
    return rows


def _history_rows(event: Event) -> list[tuple[str, str]]:
    rows = [("novelty", describe.novelty(event))]
    if event.after_failures:
        n = event.after_failures
        rows.append(("failures", f"{n:,} failed attempt{'s' if n != 1 else ''} before it "
                                 "(from this address or for this user)"))
    t = event.travel
    if event.impossible_travel and t is not None:
        hours = abs((t.end.time - t.start.time).total_seconds()) / 3600
        rows.append(("travel", printable(
            f"IMPOSSIBLE: {t.km:,} km from {t.start.place or '?'} ({t.start.ip}, "
            f"{t.start.time.isoformat(sep=' ', timespec='seconds')}) in {hours:.1f} h = {t.kmh:,} km/h")))
    return rows


def _time(event: Event) -> str:
    t = event.time
    local = t.isoformat(sep=" ")
    if t.utcoffset():
        try:
            return f"{local}  ({t.astimezone(timezone.utc).strftime('%H:%M:%S')} UTC)"
        except OverflowError:  # at the edge of the calendar
            return local
    return local


def summary(event: Event) -> str:
    """One line for a log: who, from where, how, what session."""
    text = f"{event.kind} {user_shown(event.user)}@{printable(event.host or '?')}"
    if event.ip:
        text += f" from {event.ip}" + (f" port {event.port}" if event.port is not None else "")
    if event.methods or event.method:
        text += ", " + printable("+".join(event.methods or (event.method,)))  # type: ignore[arg-type]
        if event.key:
            text += f" {printable(event.key_type)} {printable(event.key)}"
    if event.session:
        text += f", session {event.session}"
    if event.source:
        text += f" ({printable(event.source, 400)}"
        if event.record is not None and event.record.source != event.source:
            text += f", PAM hook record {printable(event.record.source, 400)}"
        text += ")"
    return text
