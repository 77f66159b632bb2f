"""What a person reads: an alert (or a digest, a notice, a test) as a
message, and that message as plain text, HTML and Markdown.

A message is built once from the outbox row, with every log-derived value
made inert (`inert.clean`), then formatted for each target. The plain text is
close to the mail people know from login-monitor scripts:

    New SSH login detected on web1.
    IP address  : 198.51.100.7 (port 53858)
    Username    : alice
    Auth method : publickey (ED25519 SHA256:...)
    Login time  : 2026-11-22 16:05:59 +0000

Fields added by enrichment and rules are shown when the event carries them
(`geo`, `novelty`, `impossible_travel`, `travel`, `after_failures`,
`key_name`; the alert's rule and reasons); they are read defensively, so an
event without them, or with an unexpected shape, still makes a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any, NamedTuple

from authwatch.deliver import inert
from authwatch.deliver.inert import clean
from authwatch.enrich import describe
from authwatch.enrich.geoip import DBIP_CREDIT
from authwatch.event import seen_by
from authwatch.output import quoted
from authwatch.rules import DEFAULT_REASON, SEVERITIES
from authwatch.store import Outgoing

WARNING_LINE = "If this was not you, take action immediately."
DIGEST_LINES = 100  # alerts listed one per line in a digest; the rest are counted

# severity -> Apprise notify type (its colour or icon on most services)
_NOTIFY_TYPE = {"info": "info", "warning": "warning", "high": "warning", "critical": "failure"}

# novelty flag -> short tag for the subject (the sentences are the alert's reasons)
_NOVELTY = {
    "new_country": "new country",
    "new_asn": "new network",
    "new_network": "new network",
    "new_key": "new key",
    "new_ip": "new IP",
    "first_login": "first login",
}

_HEADLINES = {
    "login": "New SSH login detected on {host}.",
    "failure": "Failed SSH logins on {host}.",
    "invalid_user": "SSH login attempts for an unknown user on {host}.",
    "forged": "A forged sshd log line on {host}: something that is not sshd wrote a login.",
}


class Message(NamedTuple):
    key: str  # stable identity: the alert id (Message-ID, idempotency key); digests hash theirs
    subject: str  # one line, inert
    headline: str
    rows: tuple[tuple[str, str], ...]  # (label, value); values inert
    lines: tuple[str, ...] = ()  # free lines after the rows (digests)
    note: str | None = None  # "If this was not you, ..."
    footer: str = ""
    notify_type: str = "info"

    def text(self) -> str:
        width = max((len(label) for label, _ in self.rows), default=0)
        out = [self.headline, *(f"{label:<{width}} : {value}" for label, value in self.rows), *self.lines]
        if self.note:
            out += ["", self.note]
        if self.footer:
            out += ["", "-- ", self.footer]
        return "\n".join(out)

    def markdown(self) -> tuple[str, str]:
        """(title, body) with Markdown syntax escaped."""
        return inert.markdown(self.subject), "\n".join(inert.markdown(line) for line in self.text().split("\n"))

    def html(self) -> str:
        e = inert.html
        rows = "".join(
            f'<tr><th align="left" style="padding-right:1em">{e(label)}</th><td>{e(value)}</td></tr>'
            for label, value in self.rows
        )
        parts = [f"<p><b>{e(self.headline)}</b></p>"]
        if rows:
            parts.append(f"<table>{rows}</table>")
        if self.lines:
            parts.append("<p>" + "<br>".join(e(line) for line in self.lines) + "</p>")
        if self.note:
            parts.append(f"<p>{e(self.note)}</p>")
        if self.footer:
            parts.append(f'<p style="color:#777;font-size:smaller">{e(self.footer)}</p>')
        return '<!DOCTYPE html><html><body>' + "".join(parts) + "</body></html>"


def render(row: Outgoing, tz: tzinfo, reverse_dns: Callable[[str], str | None] | None = None) -> Message:
    """The message for one alert of the outbox."""
    e = row.event if isinstance(row.event, dict) else {}
    if e.get("kind") == "notice":
        return _notice(row, e)
    if e.get("kind") == "summary" and isinstance(e.get("summary"), dict):
        return _summary(row, e, e["summary"], tz)
    if e.get("kind") == "digest" and isinstance(e.get("digest"), dict):
        return _digest(row, e, e["digest"], tz)
    kind = str(e.get("kind") or "event")
    host = clean(e.get("host") or "?", 64)
    user = clean(e.get("user")) if e.get("user") is not None else None
    geo = e.get("geo") if isinstance(e.get("geo"), dict) else {}
    tag, why = _why(row, e)
    rows: list[tuple[str, str]] = []
    ip = e.get("ip")
    if ip:
        rows.append(("IP address", clean(ip) + (f" (port {e['port']})" if isinstance(e.get("port"), int) else "")))
        name = reverse_dns(str(ip)) if reverse_dns else None
        if name:
            rows.append(("Reverse DNS", f"{clean(name)} (unverified)"))
    rows += _geo_rows(geo)
    if user is not None:
        rows.append(("Username", user + (" (no such account)" if e.get("invalid_user") else "")))
    rows += _auth_rows(e)
    rows.append(("Login time" if kind == "login" else "Time", _when(e.get("time"), tz)))
    if why:
        rows.append(("Why", "; ".join(why)))
    rows.append(("Severity", row.severity + (f", rule: {clean(row.rule, 100)}" if row.rule else "")))
    if e.get("source"):
        rows.append(("Log", clean(e["source"], 300)))
    headline = _HEADLINES.get(kind, "SSH event ({kind}) on {host}.").format(host=host, kind=clean(kind, 40))
    level = f"{row.severity.upper()} " if row.severity in ("high", "critical") else ""
    what = "" if kind == "login" else f"{clean(kind, 40)}: "
    subject = f"[authwatch] {level}{what}{_who_where(e, geo)} — {tag}"
    return Message(
        key=row.alert_id,
        subject=subject,
        headline=headline,
        rows=tuple(rows),
        note=WARNING_LINE if kind == "login" else None,
        footer=_footer(row.alert_id, geo),
        notify_type=_NOTIFY_TYPE.get(row.severity, "info"),
    )


def summary_line(row: Outgoing, tz: tzinfo) -> str:
    """One line for a digest: time, who, from where, why."""
    e = row.event if isinstance(row.event, dict) else {}
    if e.get("kind") == "notice":
        return f"{_when(e.get('time'), tz)}  {clean(e.get('detail') or row.rule or 'notice')}"
    if e.get("kind") in ("summary", "digest"):
        return f"{_when(e.get('time'), tz)}  {clean(e.get('host') or 'several hosts', 64)} — {_first_reason(row)}"
    geo = e.get("geo") if isinstance(e.get("geo"), dict) else {}
    tag, _ = _why(row, e)
    return f"{_when(e.get('time'), tz)}  {_who_where(e, geo)} — {tag}"


def _who_where(e: dict, geo: dict) -> str:
    """alice@web1 from 198.51.100.7 (BR)"""
    user = clean(e.get("user"), 64) if e.get("user") is not None else "?"
    if e.get("user") is not None:
        user = quoted(user)  # "x from 6.6.6.6"@web1 cannot mislead
    text = f"{user}@{clean(e.get('host') or '?', 64)}"
    if e.get("ip"):
        text += f" from {clean(e['ip'], 64)}"
        if geo.get("country_code"):
            text += f" ({clean(geo['country_code'], 8)})"
    return text


def render_digest(rows: Sequence[Outgoing], rate_limit: int, tz: tzinfo) -> Message:
    """One message for the alerts held back by the rate limit."""
    n = len(rows)
    lines = tuple(f"- {summary_line(r, tz)}" for r in rows[:DIGEST_LINES])
    if n > DIGEST_LINES:
        lines += (f"... and {n - DIGEST_LINES} more (see `authwatch outbox`).",)
    key = hashlib.sha256(" ".join(r.alert_id for r in rows).encode()).hexdigest()[:32]
    worst = max((r.severity for r in rows), key=_severity_rank, default="info")
    return Message(
        key=key,
        subject=f"[authwatch] {n} more alert{'s' if n != 1 else ''} (over {rate_limit} a minute)",
        headline=f"{n} alert{'s' if n != 1 else ''} came while this target was at its rate limit "
        f"of {rate_limit} messages a minute:",
        rows=(),
        lines=lines,
        note=WARNING_LINE if any(r.event.get("kind") == "login" for r in rows) else None,
        footer="authwatch digest",
        notify_type=_NOTIFY_TYPE.get(worst, "info"),
    )


def render_test(target: str, host: str) -> Message:
    return Message(
        key=hashlib.sha256(f"test {target} {datetime.now().isoformat()}".encode()).hexdigest()[:32],
        subject=f"[authwatch] test message for {clean(target)} from {clean(host)}",
        headline=f"This is a test from authwatch on {clean(host)}: target {clean(target)} works.",
        rows=(("Sent", _when(datetime.now(timezone.utc).isoformat(), datetime.now().astimezone().tzinfo)),),
        footer="authwatch test-notify",
    )


def _notice(row: Outgoing, e: dict) -> Message:
    detail = clean(e.get("detail") or row.rule or "notice", 300)
    return Message(
        key=row.alert_id,
        subject=f"[authwatch] {detail}",
        headline=detail,
        rows=(),
        lines=tuple(clean(reason, 500) for reason in row.reasons[:20]),
        footer=f"authwatch on {clean(e.get('host') or '?', 64)}",
        notify_type=_NOTIFY_TYPE.get(row.severity, "info"),
    )


def _summary(row: Outgoing, e: dict, s: dict, tz: tzinfo) -> Message:
    """A summarize rule's window: counts per address and user."""
    host = clean(e.get("host") or "several hosts", 64)
    rule = clean(row.rule or e.get("detail") or "summary", 100)
    reason = _first_reason(row)
    rows = [("Window", f"{_when(s.get('start'), tz)} to {_when(s.get('end'), tz)}"),
            ("Counted", _number(s.get("total"))),
            ("Addresses", _number(s.get("ip_count"))),
            ("Users", _number(s.get("user_count")))]
    lines: list[str] = []
    for title, key in (("Most active addresses", "ips"), ("Most tried users", "users"), ("Hosts", "hosts")):
        pairs = [p for p in s.get(key) or [] if isinstance(p, list) and len(p) == 2][:20]
        if pairs and (key != "hosts" or len(pairs) > 1):
            width = max(len(clean(v, 64)) for v, _ in pairs)
            lines += ["", f"{title}:", *(f"  {clean(v, 64):<{width}}  {_number(n)}" for v, n in pairs)]
    rows.append(("Severity", row.severity + f", rule: {rule}"))
    level = f"{row.severity.upper()} " if row.severity in ("high", "critical") else ""
    return Message(
        key=row.alert_id,
        subject=f"[authwatch] {level}{host}: {reason} — {rule}",
        headline=f"SSH summary on {host}: {reason}.",
        rows=tuple(rows),
        lines=tuple(lines),
        footer=f"authwatch summary {row.alert_id}",
        notify_type=_NOTIFY_TYPE.get(row.severity, "info"),
    )


def _digest(row: Outgoing, e: dict, g: dict, tz: tzinfo) -> Message:
    """The alerts held during quiet hours (or by digest rules), one line each."""
    items = [a for a in g.get("alerts") or [] if isinstance(a, dict)]
    total = g.get("total") if isinstance(g.get("total"), int) else len(items)
    lines = tuple(f"- {_held_line(a, tz)}" for a in items[:DIGEST_LINES])
    if total > min(len(items), DIGEST_LINES):
        lines += (f"... and {total - min(len(items), DIGEST_LINES):,} more.",)
    s = "s" if total != 1 else ""
    level = f"{row.severity.upper()} " if row.severity in ("high", "critical") else ""
    return Message(
        key=row.alert_id,
        subject=f"[authwatch] {level}digest: {total:,} alert{s} held since {_when(g.get('start'), tz)}",
        headline=f"{total:,} alert{s} held for this digest (quiet hours, or a digest rule), from "
        f"{_when(g.get('start'), tz)} to {_when(g.get('end'), tz)}:",
        rows=(),
        lines=lines,
        note=WARNING_LINE if any(a.get("kind") == "login" for a in items) else None,
        footer=f"authwatch digest {row.alert_id}",
        notify_type=_NOTIFY_TYPE.get(row.severity, "info"),
    )


def _held_line(a: dict, tz: tzinfo) -> str:
    """time  alice@web1 from 198.51.100.7 (BR) — first login from Brazil for alice  [info, rule: ...]"""
    who = _who_where(a, {"country_code": a.get("country_code")}) if a.get("user") is not None or a.get("ip") \
        else clean(a.get("host") or "several hosts", 64)
    tag = f"{clean(a.get('severity') or 'info', 20)}" + (f", rule: {clean(a['rule'], 100)}" if a.get("rule") else "")
    return f"{_when(a.get('time'), tz)}  {who} — {clean(a.get('why') or '?', 300)}  [{tag}]"


def _first_reason(row: Outgoing) -> str:
    return clean(row.reasons[0], 300) if isinstance(row.reasons, list) and row.reasons else "?"


def _why(row: Outgoing, e: dict) -> tuple[str, list[str]]:
    """(short tag for the subject, the sentences of "Why"). The sentences are
    the alert's reasons, written once by the rules (with the enrichment in
    words); the tag is picked from the event's flags, most telling first."""
    tags: list[str] = []
    if e.get("impossible_travel") is True:
        tags.append("impossible travel")
    failures = e.get("after_failures")
    if isinstance(failures, int) and not isinstance(failures, bool) and failures > 0:
        tags.append(f"after {failures} failures")
    novelty = e.get("novelty") if isinstance(e.get("novelty"), list) else []
    tags += [tag for flag, tag in _NOVELTY.items() if flag in novelty]
    if row.rule:
        tags.append(clean(row.rule, 60))
    reasons = [clean(r, 300) for r in row.reasons[:10]] if isinstance(row.reasons, list) else []
    if len(reasons) > 1 and DEFAULT_REASON in reasons:
        reasons.remove(DEFAULT_REASON)
    tags += [r for r in reasons[:1] if r != DEFAULT_REASON]
    return (tags[0] if tags else "login" if e.get("kind") == "login" else clean(e.get("kind") or "alert", 40)), reasons


def _geo_rows(geo: dict) -> list[tuple[str, str]]:
    rows = []
    scope = geo.get("scope")
    if scope and scope != "public":
        rows.append(("Place", describe.scope_words(clean(scope, 40))))
    else:
        place = ", ".join(clean(p, 80) for p in (geo.get("city"), geo.get("country")) if p)
        if geo.get("country_code"):
            place += f" ({clean(geo['country_code'], 8)})" if place else clean(geo["country_code"], 8)
        if place:
            rows.append(("Place", place))
    network = _network(geo)
    if network:
        rows.append(("Network", network))
    return rows


def _network(geo: dict) -> str:
    asn = geo.get("asn")
    org = clean(geo["as_org"], 80) if geo.get("as_org") else ""
    if isinstance(asn, int) and not isinstance(asn, bool):
        return f"AS{asn} {org}".rstrip()
    return org


def _auth_rows(e: dict) -> list[tuple[str, str]]:
    rows = []
    methods = e.get("methods") if isinstance(e.get("methods"), list) else []
    method = " + ".join(clean(m, 40) for m in methods) if len(methods) > 1 else clean(e.get("method") or "", 40)
    if e.get("key"):
        method += f" ({clean(e.get('key_type') or '', 20)} {clean(e['key'], 100)})".replace("( ", "(")
    if method:
        rows.append(("Auth method", method))
    if e.get("key_name"):
        rows.append(("Key name", clean(e["key_name"], 100)))
    if e.get("key_location"):
        rows.append(("Key file", clean(e["key_location"], 200)))
    cert = e.get("cert") if isinstance(e.get("cert"), dict) else None
    if cert:
        rows.append(("Certificate", f"ID {clean(cert.get('id', '?'), 100)} serial {clean(cert.get('serial', '?'), 30)}, "
                     f"CA {clean(cert.get('ca_key_type', ''), 20)} {clean(cert.get('ca_key', ''), 100)}"))
    if e.get("session"):
        rows.append(("Session", clean(e["session"], 20) + (f" on {clean(e['tty'], 40)}" if e.get("tty") else "")))
    if isinstance(e.get("record"), dict):
        rows.append(("Seen by", seen_by(e.get("ident"))))
    if e.get("detail") and e.get("kind") != "login":
        rows.append(("Detail", clean(e["detail"], 300)))
    forged = e.get("forged") if isinstance(e.get("forged"), dict) else None
    if forged:
        rows.append(("Claims", f"{clean(forged.get('claimed_kind') or '?', 40)} by "
                     f"{clean(forged.get('claimed_ident') or '?', 40)}[{clean(forged.get('claimed_pid'), 20)}]"))
        rows.append(("Written by", f"uid {clean(forged.get('uid'), 20)}, pid {clean(forged.get('pid'), 20)}, "
                     f"{clean(forged.get('exe') or forged.get('comm') or 'program unknown', 200)}"))
    return rows


def _when(value: Any, tz: tzinfo) -> str:
    """Local time in the configured zone, and UTC beside it if they differ."""
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return clean(value, 60)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    try:
        local = t.astimezone(tz)
        text = local.strftime("%Y-%m-%d %H:%M:%S %z")
        if local.utcoffset():
            text += f" ({t.astimezone(timezone.utc).strftime('%H:%M:%S')} UTC)"
    except (OverflowError, ValueError):  # at the edge of the calendar: as logged
        return clean(value, 60)
    return text


def _footer(alert_id: str, geo: dict) -> str:
    footer = f"authwatch alert {alert_id}"
    credit = geo.get("attribution")
    if credit:
        # authwatch's own credit line is shown as it is, so its link works; any other text is untrusted
        footer += " · " + (DBIP_CREDIT if credit == DBIP_CREDIT else clean(credit, 120))
    return footer


def _number(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
