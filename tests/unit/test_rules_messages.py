"""Summaries and digests as messages: made by the real engine, turned into
outbox rows as the store keeps them, rendered as delivery renders them."""

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from authwatch import config
from authwatch.deliver import inert
from authwatch.deliver.message import render, summary_line
from authwatch.event import Event, Geo, to_json
from authwatch.rules.engine import Engine, Output
from authwatch.store import Outgoing

UTC = timezone.utc
NIGHT = datetime(2026, 11, 18, 23, 0, tzinfo=UTC)  # Wednesday 23:00 in London (GMT)
WJ = inert.WORD_JOINER
CONFIG = ("timezone: Europe/London\n"
          "targets: {mail: 'mailto://localhost?to=root'}\n"
          "quiet_hours: [{days: mon-fri, from: '22:00', to: '07:00'}]\n"
          "rules:\n"
          "  - {name: brute force, match: {kind: failure}, action: summarize, window: 10m, threshold: 5,"
          " during_quiet_hours: alert, severity: warning}\n")


def outbox_row(o: Output) -> Outgoing:
    """The row delivery reads: the event as JSON, through a round trip like the store's."""
    d = o.decision
    return Outgoing(o.id, "mail", 1, 0.0, d.severity, d.rule, list(d.reasons), json.loads(json.dumps(to_json(o.event))),
                    "pending", 0, 0.0, None, 0.0)


def login(t, user="alice", ip="177.0.3.20"):
    return Event("login", t, "web1", user, ip, 50000, "publickey", ("publickey",),
                 geo=Geo("public", "BR", "Brazil", "São Paulo"), novelty=("new_country",))


def test_a_summary_counts_per_address_and_user():
    e = Engine(config.parse(CONFIG, "c.yaml", environ={}))
    for i in range(12):
        e.decide(Event("failure", NIGHT + timedelta(seconds=i), "web1", ["root", "admin", "@here"][i % 3],
                       f"203.0.113.{i % 4}", 40000, "password"))
    [summary] = e.due(NIGHT + timedelta(hours=1))
    m = render(outbox_row(summary), ZoneInfo("Europe/London"))
    assert m.subject == ("[authwatch] web1: 12 failed logins in 10 minutes, from 4 addresses, for 3 users — "
                         "brute force")
    assert m.headline == "SSH summary on web1: 12 failed logins in 10 minutes, from 4 addresses, for 3 users."
    text = m.text()
    assert "Window    : 2026-11-18 23:00:00 +0000 to 2026-11-18 23:10:00 +0000" in text
    assert "Counted   : 12" in text and "Addresses : 4" in text and "Users     : 3" in text
    assert "Severity  : warning, rule: brute force" in text
    assert "Most active addresses:\n  203.0.113.0  3\n  203.0.113.1  3" in text
    assert f"Most tried users:\n  root    4\n  admin   4\n  @{WJ}here  4" in text
    assert "Hosts" not in text  # only one
    assert m.notify_type == "warning" and m.note is None
    assert summary_line(outbox_row(summary), UTC) == \
        "2026-11-18 23:10:00 +0000  web1 — 12 failed logins in 10 minutes, from 4 addresses, for 3 users"


def test_a_digest_lists_the_held_alerts_inert():
    e = Engine(config.parse(CONFIG, "c.yaml", environ={}))
    e.decide(login(NIGHT))
    e.decide(login(NIGHT + timedelta(hours=1), user="<!channel> http://evil.example"))
    [digest] = e.due(NIGHT + timedelta(hours=9))
    m = render(outbox_row(digest), ZoneInfo("Europe/London"))
    assert m.subject == "[authwatch] digest: 2 alerts held since 2026-11-18 23:00:00 +0000"
    assert m.lines == (
        "- 2026-11-18 23:00:00 +0000  alice@web1 from 177.0.3.20 (BR) — first login from Brazil for alice  [info]",
        f"- 2026-11-19 00:00:00 +0000  \"<!channel> http:{WJ}//evil.example\"@web1 from 177.0.3.20 (BR) — first "
        f"login from Brazil for <!channel> http:{WJ}//evil.example  [info]",
    )
    assert m.headline.endswith("from 2026-11-18 23:00:00 +0000 to 2026-11-19 07:00:00 +0000:")
    assert m.note == "If this was not you, take action immediately."
    assert "&lt;!channel&gt;" in m.html() and "<!channel>" not in m.html()
    assert "\\<\\!channel\\>" in m.markdown()[1]
    assert m.key == digest.id and m.footer == f"authwatch digest {digest.id}"


def test_odd_shapes_in_a_stored_digest_or_summary_do_not_break_a_message():
    for kind, field in (("digest", {"alerts": "x", "total": "many"}), ("summary", {"ips": [1, [2]], "total": None})):
        row = Outgoing("a" * 32, "mail", 1, 0.0, "info", None, [], {"kind": kind, kind: field}, "pending", 0, 0.0,
                       None, 0.0)
        assert render(row, UTC).subject.startswith("[authwatch] ")
