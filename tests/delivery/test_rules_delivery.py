"""Rules through delivery, end to end: `replay --notify` over a night of
logins and a brute force, to two real HTTP receivers. Routing (`notify`),
the digest at the end of quiet hours, a failure summary and a critical alert
in the middle of the night arrive as the configuration says."""

from datetime import datetime, timedelta, timezone

import pytest

from tests.delivery.servers import HttpReceiver
from tests.loglines import accepted, failed

NIGHT = datetime(2026, 11, 18, 22, 30, tzinfo=timezone.utc)  # Wednesday, London (GMT)


@pytest.fixture
def pager():
    r = HttpReceiver()
    yield r
    r.close()


def test_a_night_arrives_as_the_rules_say(cli, tmp_path, receiver, pager):
    config = tmp_path / "config.yaml"
    config.write_text(
        "timezone: Europe/London\n"
        f"targets:\n  chat: 'json://127.0.0.1:{receiver.port}/chat'\n  pager: 'json://127.0.0.1:{pager.port}/p'\n"
        "delivery: {rate_limit: 0}\n"
        "quiet_hours: [{days: mon-fri, from: '22:00', to: '07:00'}]\n"
        "rules:\n"
        "  - {name: root, match: {user: root}, action: alert, severity: critical, notify: [pager, chat]}\n"
        "  - {name: brute force, match: {kind: failure}, action: summarize, window: 10m, threshold: 20,"
        " notify: chat, severity: warning, during_quiet_hours: alert}\n"
        "  - {name: everything else, action: alert, notify: chat}\n")
    log = tmp_path / "auth.log"
    lines = [accepted(NIGHT, "alice", "198.51.100.7", 50001)]
    lines += [failed(NIGHT + timedelta(minutes=5, seconds=i), ["admin", "oracle"][i % 2], f"203.0.113.{i % 3}",
                     40000 + i) for i in range(30)]
    lines += [accepted(NIGHT + timedelta(hours=2), "root", "192.0.2.10", 50002),
              accepted(NIGHT + timedelta(hours=3), "bob", "198.51.100.8", 50003),
              accepted(NIGHT + timedelta(hours=9), "carol", "198.51.100.9", 50004)]  # 07:30: after the quiet hours
    log.write_text("".join(lines))
    r = cli("replay", "--notify", "--config", str(config), str(log))
    assert r.code == 0, r.err
    chat = [q.json()["title"] for q in receiver.wait_for(4)]
    assert chat == [
        "[authwatch] web1: 30 failed logins in 10 minutes, from 3 addresses, for 2 users — brute force",
        "[authwatch] CRITICAL root@web1 from 192.0.2.10 — first login",
        "[authwatch] digest: 2 alerts held since 2026-11-18 22:30:00 +0000",
        "[authwatch] carol@web1 from 198.51.100.9 — first login",
    ]
    assert [q.json()["title"] for q in pager.wait_for(1)] == ["[authwatch] CRITICAL root@web1 from 192.0.2.10 — first login"]
    digest = receiver.received[2].json()["message"]
    assert "alice@web1 from 198.51.100.7 — first login for alice  [info, rule: everything else]" in digest
    assert "bob@web1 from 198.51.100.8 — first login for bob  [info, rule: everything else]" in digest
    assert "carol" not in digest
    assert "the quiet hours" not in r.out and r.out.count("held for the digest") == 2
    assert "DIGEST  2 alerts held  on web1" in r.out and "SUMMARY  brute force  on web1" in r.out
