"""Chat and webhook targets against a real HTTP server on loopback: Apprise's
own Slack plugin (its webhook base URL pointed at the server), Mattermost
(`mmost://`) and `json://`. Hostile user names must arrive inert in each
service's own syntax: no mention, no link, no markup."""

import re
import time

import pytest

from authwatch.deliver.delivery import Delivery
from authwatch.deliver.inert import WORD_JOINER as WJ
from tests.delivery.conftest import login, queue, settings
from tests.delivery.servers import HttpReceiver

HOSTILE = ["<!channel>", "<http://evil.example|click here>", "@here", "<b>x</b>", "@channel @all <@U024BE7LH>",
           "[click](http://evil.example) *bold* `code`", "ok\r\nfake line", "x" * 10_000]


@pytest.fixture
def slack(monkeypatch):
    from apprise.plugins.slack import NotifySlack

    server = HttpReceiver(reply=b"ok")  # a Slack webhook answers 200 "ok"
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{server.port}/services")
    monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)  # Apprise paces real Slack to ~1 a second
    yield server
    server.close()


def send_all(state, url, users):
    alerts = queue(state, [login(user=u, port=i) for i, u in enumerate(users)])
    report = Delivery(settings(state, {"t": url}, rate_limit=0), state).run_once(time.time() + 30)
    assert report.ok, report.errors
    return alerts


def test_slack_gets_escaped_plain_text_with_markup_off(state, slack):
    send_all(state, "slack://T000LOCAL/B000LOCAL/secretsecretsecret", HOSTILE)
    payloads = [r.json() for r in slack.wait_for(len(HOSTILE))]
    assert slack.requests[0].path == "/services/T000LOCAL/B000LOCAL/secretsecretsecret"
    for p in payloads:
        assert p["mrkdwn"] is False
        a = p["attachments"][0]
        for text in (a["title"], a["text"]):
            assert "<!" not in text and "<http" not in text and "<@" not in text and "<b>" not in text
            assert "@here" not in text and "@channel" not in text and "http://" not in text
    first = payloads[0]["attachments"][0]
    assert first["title"] == "[authwatch] &lt;!channel&gt;@web1 from 198.51.100.7 — login"
    assert "Username    : &lt;!channel&gt;\n" in first["text"]
    assert f"&lt;http:{WJ}//evil.example|click here&gt;" in payloads[1]["attachments"][0]["text"]
    assert max(len(p["attachments"][0]["text"]) for p in payloads) < 3000


def test_mattermost_gets_markdown_escaped_and_mentions_broken(state, receiver):
    send_all(state, f"mmost://127.0.0.1:{receiver.port}/tokentokentoken", HOSTILE)
    texts = [r.json()["text"] for r in receiver.wait_for(len(HOSTILE))]
    assert receiver.requests[0].path == "/hooks/tokentokentoken"
    for text in texts:
        assert not re.search(r"@(here|channel|all)\b", text)  # Mattermost's mentions
        assert not re.search(r"(?<!\\)[<>\[\]*`]", text.split("\r\n", 1)[1].split("\n-- \n")[0].replace(
            "Auth method : publickey \\(ED25519", ""))  # no unescaped markup in the body
        assert "http://" not in text
    assert f"Username    : @{WJ}here\n" in texts[2]
    assert "Username    : \\<b\\>x\\</b\\>\n" in texts[3]
    assert f"\\[click\\]\\(http:{WJ}//evil.example\\) \\*bold\\* \\`code\\`" in texts[5]
    assert "ok\\\\x0d\\\\x0afake line" in texts[6]  # CR LF shown, and the backslash escaped for Markdown


def test_json_carries_the_text_as_data_and_the_alert_id_as_idempotency_key(state, receiver):
    alerts = send_all(state, f"json://127.0.0.1:{receiver.port}/alerts", HOSTILE[:4])
    requests = receiver.wait_for(4)
    assert [r.headers["Idempotency-Key"] for r in requests] == [a.id for a in alerts]
    body = requests[0].json()
    assert body["title"] == "[authwatch] <!channel>@web1 from 198.51.100.7 — login"
    assert body["type"] == "info" and "New SSH login detected on web1." in body["message"]
    assert f"@{WJ}here" in requests[2].json()["message"]


def test_severity_maps_to_the_services_notification_type(state, receiver):
    queue(state, [login(severity="critical", rule="root or impossible travel", user="root")])
    Delivery(settings(state, {"t": f"json://127.0.0.1:{receiver.port}/a"}), state).run_once(time.time() + 10)
    body = receiver.wait_for(1)[0].json()
    assert body["type"] == "failure"
    assert body["title"] == "[authwatch] CRITICAL root@web1 from 198.51.100.7 — root or impossible travel"
