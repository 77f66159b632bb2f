"""The delivery commands driven through the CLI: replay --notify, outbox,
test-notify; against a real HTTP receiver."""

import re

import pytest

from authwatch.enrich.geoip import DBIP_CREDIT
from tests.conftest import FIXTURES
from tests.delivery.conftest import TOKEN, encodings
from tests.delivery.servers import free_port
from tests.loglines import accepted, at
from tests.mmdbs import asn_db, city_db

LOG = str(FIXTURES / "openssh-10-rfc3339.log")


@pytest.fixture
def conf(tmp_path):
    def write(targets: dict, delivery: str = "  rate_limit: 0\n") -> str:
        path = tmp_path / "config.yaml"
        path.write_text(f"state: {tmp_path / 'state.db'}\ntargets:\n"
                        + "".join(f"  {name}: '{url}'\n" for name, url in targets.items())
                        + f"delivery:\n{delivery}")
        return str(path)

    return write


def test_replay_sends_nothing_without_notify(cli, conf, receiver):
    r = cli("replay", "--config", conf({"hook": f"json://127.0.0.1:{receiver.port}/x"}), LOG)
    assert r.code == 0 and r.out.count("LOGIN") == 17
    assert receiver.wait_for(1, timeout=0.5) == []


def test_replay_notify_delivers_every_alert(cli, conf, receiver):
    r = cli("replay", "--notify", "--config", conf({"hook": f"json://127.0.0.1:{receiver.port}/x"}), LOG)
    assert r.code == 0, r.err
    assert r.err == "authwatch: notify: 17 messages sent, 0 failed attempts\n"
    titles = [q.json()["title"] for q in receiver.wait_for(17)]
    assert titles[0] == "[authwatch] alice@web1 from 127.0.0.1 — first login"
    assert titles[-1] == "[authwatch] root@web1 from 203.0.113.9 — first login"
    assert len(set(titles)) < len(titles)  # later logins of the same users are not "first" any more


@pytest.mark.parametrize("city_type, asn_type, credit", [
    ("DBIP-City-Lite", "DBIP-ASN-Lite (compat=GeoLite2-ASN)", " · " + DBIP_CREDIT),
    ("GeoLite2-City", "GeoLite2-ASN", ""),  # MaxMind's licence asks for no credit in messages
])
def test_a_message_showing_db_ip_data_credits_db_ip_in_its_footer(cli, receiver, tmp_path, city_type, asn_type,
                                                                    credit):
    city, asn = city_db(tmp_path / "city.mmdb", db_type=city_type), asn_db(tmp_path / "asn.mmdb", db_type=asn_type)
    config = tmp_path / "config.yaml"
    config.write_text(f"state: {tmp_path / 'state.db'}\ngeoip: {{city: {city}, asn: {asn}}}\n"
                      f"targets:\n  hook: 'json://127.0.0.1:{receiver.port}/x'\n")
    log = tmp_path / "auth.log"
    log.write_text(accepted(at(0), "alice", "177.0.3.20") + accepted(at(1), "alice", "10.0.0.5"))
    r = cli("replay", "--notify", "--config", str(config), str(log))
    assert r.code == 0, r.err
    brazil, lan = (q.json()["message"] for q in receiver.wait_for(2))
    assert "São Paulo, Brazil (BR)" in brazil
    assert re.search(r"\nauthwatch alert [0-9a-f]{32}(.*)$", brazil).group(1) == credit
    assert re.search(r"\nauthwatch alert [0-9a-f]{32}(.*)$", lan).group(1) == ""  # no DB-IP data shown


def test_replay_notify_reports_what_did_not_get_through(cli, conf, receiver, tmp_path):
    config = conf({"hook": f"json://127.0.0.1:{receiver.port}/x", "down": f"json://127.0.0.1:{free_port()}/x"},
                  "  rate_limit: 5\n")
    state = str(tmp_path / "kept.db")
    r = cli("replay", "--notify", "--state", state, "--config", config, LOG)
    assert r.code == 1
    lines = r.err.splitlines()
    assert lines[0].startswith("authwatch: warning: target down: not delivered: A Connection error occurred")
    assert "Socket Exception: [Errno 111] Connection refused" in lines[0]
    assert lines[1:] == [
        "authwatch: notify: 6 messages sent, 1 failed attempt",
        f"authwatch: error: notify: 17 deliveries did not get through; they stay queued in {state} "
        f"('authwatch outbox --state {state} --config {config}')",
    ]
    assert receiver.wait_for(6)[-1].json()["title"] == "[authwatch] 12 more alerts (over 5 a minute)"
    out = cli(*lines[-1].split("('authwatch ")[1].rstrip("')").split())  # the command the hint gives
    assert "no longer configured" not in out.out
    assert out.code == 0
    assert "  down  FAILING since " in out.out and "1 try in a row" in out.out and "[17 pending]" in out.out
    assert "  hook  ok, last delivery " in out.out and "[17 sent]" in out.out
    assert out.out.count("  down    pending  ") == 17
    assert "last error: A Connection error occurred" in out.out
    assert out.out.rstrip().endswith("17 waiting, 0 dead.")


def test_scratch_state_says_undelivered_alerts_are_lost(cli, conf):
    r = cli("replay", "--notify", "--config", conf({"down": f"json://127.0.0.1:{free_port()}/x"}), LOG)
    assert r.code == 1
    assert r.err.splitlines()[-1] == ("authwatch: error: notify: 17 deliveries did not get through; the scratch "
                                      "state is discarded (use --state PATH to keep them for retries)")


def test_notify_without_targets_or_with_a_bad_one(cli, tmp_path, conf):
    empty = tmp_path / "empty.yaml"
    empty.write_text("timezone: UTC\n")
    r = cli("replay", "--notify", "--config", str(empty), LOG)
    assert r.code == 2 and "--notify: no targets are configured" in r.err
    r = cli("replay", "--notify", "--config", conf({"chat": "slack://T000/secrettokenvalue"}), LOG)
    assert r.code == 3 and r.out == ""
    assert "config.yaml:3:9: targets.chat: Apprise cannot use this slack:// URL: An invalid Slack (third) Token" in r.err
    assert "secrettokenvalue" not in r.err


def test_outbox_retry(cli, conf, receiver, tmp_path):
    port = free_port()
    config = conf({"down": f"json://127.0.0.1:{port}/x"}, "  rate_limit: 0\n  dead_after: 1m\n")
    state = str(tmp_path / "kept.db")
    cli("replay", "--notify", "--state", state, "--config", config, LOG)
    from authwatch.store import Store

    with Store(state) as store:
        store.db.execute("UPDATE deliveries SET queued = queued - 3600")
        ids = [r.alert_id for r in store.outbox()]
    r = cli("replay", "--notify", "--state", state, "--config", config, LOG)  # marks them dead
    assert r.code == 1
    assert r.err.splitlines()[-1] == (
        "authwatch: error: notify: 17 deliveries were given up in this run and marked dead (undelivered for longer "
        f"than delivery.dead_after, or for a target no longer configured); 'authwatch outbox --state {state} "
        f"--config {config}' lists them, --retry ID queues one again")
    out = cli("outbox", "--config", config, "--state", state).out
    assert out.count(" dead     ") == 17 and "0 waiting, 17 dead. Queue one again: authwatch outbox --retry ID" in out
    r = cli("outbox", "--retry", ids[0][:8], "--config", config, "--state", state)
    assert r.code == 0 and r.out.startswith(f"alert {ids[0]} queued again for down;")
    assert cli("outbox", "--retry", ids[0][:8], "--config", config, "--state", state).code == 2  # nothing to retry
    r = cli("outbox", "--retry", "0000000000", "--config", config, "--state", state)
    assert r.code == 2 and "no queued alert has an id starting with '0000000000'" in r.err
    assert cli("outbox", "--state", str(tmp_path / "none.db"), "--config", config).code == 2


def test_test_notify_reports_each_target(cli, conf, receiver):
    config = conf({"hook": f"json://127.0.0.1:{receiver.port}/x", "down": f"json://127.0.0.1:{free_port()}/x"})
    r = cli("test-notify", "--config", config)
    assert r.code == 1
    hook, down = r.out.splitlines()
    assert hook.startswith("hook  ok (") and hook.endswith(" s)")
    assert down.startswith("down  FAILED: A Connection error occurred") and "Connection refused" in down
    (request,) = receiver.wait_for(1)
    assert request.json()["title"].startswith("[authwatch] test message for hook from ")
    r = cli("test-notify", "hook", "--config", config)
    assert r.code == 0 and r.out.startswith("hook  ok")
    r = cli("test-notify", "hoook", "--config", config)
    assert r.code == 2 and "no target named 'hoook'; configured: hook, down" in r.err


def test_delivery_errors_show_a_token_in_none_of_its_encodings(cli, conf, receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("TOK", TOKEN)
    tls = f"jsons://127.0.0.1:{receiver.port}"  # TLS to a plain HTTP server: fails, naming the request
    config = conf({"inpath": f"{tls}/hook/${{TOK}}", "inquery": f"{tls}/x?-key=${{TOK}}",
                   "written": f"{tls}/x?-key={TOKEN}"})
    shown = cli("test-notify", "--config", config)
    assert shown.code == 1 and shown.out.count("FAILED: A Connection error occurred") == 3
    state = str(tmp_path / "kept.db")
    replay = cli("replay", "--notify", "--state", state, "--config", config, LOG)
    listed = cli("outbox", "--config", config, "--state", state)
    assert listed.out.count("last error: A Connection error occurred") >= 3
    for text in (shown.out, shown.err, replay.out, replay.err, listed.out):
        assert "with url" not in text
        assert not [form for form in encodings(TOKEN) if form in text]


def test_test_notify_without_targets(cli, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("timezone: UTC\n")
    r = cli("test-notify", "--config", str(empty))
    assert r.code == 2 and "no targets are configured" in r.err


def test_help_answers(cli):
    for command, words in (("outbox", "--retry ID"), ("test-notify", "exact error"), ("replay", "--notify")):
        r = cli(command, "--help")
        assert r.code == 0 and words in r.out


def test_outbox_totals_count_every_row_not_only_those_listed(cli, conf, tmp_path):
    from authwatch.store import Store
    from tests.delivery.conftest import login, queue

    config = conf({"t": f"json://127.0.0.1:{free_port()}/x"})
    state = str(tmp_path / "big.db")
    queue(state, [login(port=10000 + n) for n in range(1205)])
    with Store(state) as store:
        store.db.execute("UPDATE deliveries SET state = 'dead' WHERE rowid <= 5")
    out = cli("outbox", "--config", config, "--state", state).out.splitlines()
    assert "[1200 pending, 5 dead]" in out[1]
    assert sum(1 for line in out if " pending " in line or " dead " in line) == 1000  # listed: the oldest 1,000
    assert out[-3:] == ["… 205 more not shown", "",
                        "1200 waiting, 5 dead. Queue one again: authwatch outbox --retry ID"]
