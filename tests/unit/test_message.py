"""Messages: what a person reads, with every log-derived value inert."""

from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from authwatch.deliver import inert
from authwatch.deliver.message import render, render_digest, summary_line
from authwatch.enrich import describe
from authwatch.event import Geo
from authwatch.store import Outgoing

WJ = inert.WORD_JOINER
EVENT = {
    "kind": "login", "time": "2026-11-22T16:05:59.824384+00:00", "host": "web1", "user": "alice",
    "ip": "198.51.100.7", "port": 53858, "method": "publickey", "methods": ["publickey"],
    "key": "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI", "key_type": "ED25519", "cert": None,
    "key_location": "/home/alice/.ssh/authorized_keys:1", "session": "shell", "tty": "pts/0",
    "source": "auth.log:6",
}
HOSTILE = ["<!channel>", "<http://evil.example|click here>", "@here", "<b>x</b>", "a\r\nBcc: evil@example.com",
           "x\x1b[2J\x07y", "A" * 10_000]


def row(event=None, severity="info", rule=None, reasons=("every login alerts (built-in default)",), alert_id="a" * 32):
    return Outgoing(alert_id, "t", 1, 0.0, severity, rule, list(reasons), EVENT | (event or {}), "pending", 0, 0.0,
                    None, 0.0)


def test_plain_text_is_close_to_the_login_monitor_mail():
    m = render(row(), timezone.utc)
    assert m.subject == "[authwatch] alice@web1 from 198.51.100.7 — login"
    assert m.text().splitlines()[:9] == [
        "New SSH login detected on web1.",
        "IP address  : 198.51.100.7 (port 53858)",
        "Username    : alice",
        "Auth method : publickey (ED25519 SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI)",
        "Key file    : /home/alice/.ssh/authorized_keys:1",
        "Session     : shell on pts/0",
        "Login time  : 2026-11-22 16:05:59 +0000",
        "Why         : every login alerts (built-in default)",
        "Severity    : info",
    ]
    assert "If this was not you, take action immediately." in m.text()
    assert m.key == "a" * 32 and m.notify_type == "info"


def test_local_time_and_utc_side_by_side():
    m = render(row(), ZoneInfo("Europe/Paris"))
    assert "Login time  : 2026-11-22 17:05:59 +0100 (16:05:59 UTC)" in m.text()


def test_enrichment_and_rules_fields_are_shown_when_present():
    m = render(row({
        "geo": {"country_code": "BR", "country": "Brazil", "city": "São Paulo", "asn": 64500,
                "as_org": "Example Telecom", "scope": "public", "attribution": "IP geolocation by DB-IP"},
        "novelty": ["new_country", "new_asn"], "after_failures": 37, "key_name": "alice@laptop",
        "impossible_travel": True, "travel": {"from": "Paris, FR", "to": "São Paulo, BR", "km": 9400, "kmh": 18800},
    }, severity="high", rule="new place for this user", reasons=[
        "impossible travel for alice: 9,400 km from Paris at 18,800 km/h", "login after 37 failed attempts",
        "first login from Brazil for alice"]), timezone.utc)
    assert m.subject == "[authwatch] HIGH alice@web1 from 198.51.100.7 (BR) — impossible travel"
    text = m.text()
    assert "Place       : São Paulo, Brazil (BR)" in text
    assert "Network     : AS64500 Example Telecom" in text
    assert f"Key name    : alice@{WJ}laptop" in text
    why = next(line for line in text.splitlines() if line.startswith("Why"))
    # the alert's reasons, as the rules wrote them, each once
    assert why == ("Why         : impossible travel for alice: 9,400 km from Paris at 18,800 km/h; "
                   "login after 37 failed attempts; first login from Brazil for alice")
    assert "Severity    : high, rule: new place for this user" in text
    assert "IP geolocation by DB-IP" in m.footer
    assert m.notify_type == "warning"


def test_subject_tag_follows_the_strongest_signal():
    def tag(**event):
        return render(row(event), timezone.utc).subject.rsplit(" — ", 1)[1]

    assert tag(novelty=["new_ip", "new_country"], geo={"country_code": "BR"}) == "new country"
    assert tag(novelty=["new_key"]) == "new key"
    assert tag(after_failures=5, novelty=["new_ip"]) == "after 5 failures"
    assert render(row(rule="root or impossible travel"), timezone.utc).subject.endswith("— root or impossible travel")
    assert render(row(reasons=["root login"]), timezone.utc).subject.endswith("— root login")


@pytest.mark.parametrize("scope, words", [
    ("private", "private network"),
    ("loopback", "this machine (loopback)"),
    ("reserved", "reserved address (not routed on the internet)"),
])
def test_a_non_public_address_is_placed_in_the_words_the_console_uses(scope, words):
    m = render(row({"geo": {"scope": scope}}), timezone.utc)
    assert f"Place       : {words}\n" in m.text()
    assert describe.where(Geo(scope)) == words  # what replay prints


def test_reverse_dns_is_marked_unverified_and_cleaned():
    m = render(row(), timezone.utc, reverse_dns=lambda ip: "<!here>.evil.example" if ip == "198.51.100.7" else None)
    assert "Reverse DNS : <!here>.evil.example (unverified)" in m.text()
    assert "Reverse DNS" not in render(row(), timezone.utc, reverse_dns=lambda ip: None).text()


def test_unexpected_shapes_of_later_fields_do_not_break_a_message():
    m = render(row({"geo": "Brazil", "novelty": "new_ip", "after_failures": "many", "travel": [1],
                    "impossible_travel": "yes", "cert": "x", "port": "22", "time": "yesterday"}), timezone.utc)
    assert m.subject == "[authwatch] alice@web1 from 198.51.100.7 — login"
    assert "Login time  : yesterday" in m.text()
    assert render(row({"kind": None, "user": None, "ip": None, "host": None}), timezone.utc).subject == \
        "[authwatch] event: ?@? — alert"


def test_a_forged_line_says_who_really_wrote_it():
    forged = {"uid": 1000, "pid": 4242, "comm": "logger", "exe": "/usr/bin/logger", "claimed_ident": "sshd",
              "claimed_pid": 1, "claimed_kind": "login"}
    m = render(row({"kind": "forged", "forged": forged}, severity="critical",
                   reasons=["a line claiming to be sshd's was written by uid 1000, pid 4242, /usr/bin/logger"]),
               timezone.utc)
    assert m.subject.startswith("[authwatch] CRITICAL forged: alice@web1 from 198.51.100.7 — a line claiming")
    assert m.headline.startswith("A forged sshd log line on web1")
    assert "Claims      : login by sshd[1]" in m.text()
    assert "Written by  : uid 1000, pid 4242, /usr/bin/logger" in m.text()
    assert m.notify_type == "failure" and m.note is None


def test_other_kinds_get_a_headline_and_their_detail():
    m = render(row({"kind": "failure", "detail": "maximum authentication attempts exceeded"}), timezone.utc)
    assert m.headline == "Failed SSH logins on web1."
    assert "Detail      : maximum authentication attempts exceeded" in m.text()


def test_hostile_user_names_arrive_inert_in_every_format():
    for name in HOSTILE:
        m = render(row({"user": name, "host": name}), timezone.utc)
        text = m.text()
        assert "\r" not in m.subject and "\n" not in m.subject and "\x1b" not in text
        assert len(m.subject) < 300 and len(text) < 3000
        html = m.html()
        assert "<b>x</b>" not in html and "<!channel>" not in html and "<http" not in html
        title, body = m.markdown()
        for s in (title, body):
            assert "<!channel>" not in s and "<b>" not in s and "[" not in s.replace("\\[", "")
        for s in (m.subject, text, html, body):
            assert "@here" not in s and "http://" not in s
    m = render(row({"user": "a\r\nBcc: evil@example.com"}), timezone.utc)
    assert "Username    : a\\x0d\\x0aBcc: evil@" + WJ + "example.com" in m.text()
    m = render(row({"user": "<b>x</b>"}), timezone.utc)
    assert "&lt;b&gt;x&lt;/b&gt;" in m.html()
    assert "\\<b\\>x\\</b\\>" in m.markdown()[1]


def test_clean_breaks_mentions_and_links_but_reads_the_same():
    assert inert.clean("@channel http://evil.example www.evil.example") == \
        f"@{WJ}channel http:{WJ}//evil.example www{WJ}.evil.example"
    assert inert.clean("x" * 500, 10) == "xxxxxxxxxx… (490 more characters)"
    assert inert.markdown("*a* _b_ `c` [d](e) <f> | # ~g~ & !") == \
        "\\*a\\* \\_b\\_ \\`c\\` \\[d\\]\\(e\\) \\<f\\> \\| \\# \\~g\\~ \\& \\!"


def test_a_digest_lists_every_held_alert_in_one_message():
    rows = [row({"user": f"u{i}", "geo": {"country_code": "BR"}}, alert_id=f"{i:032x}") for i in range(120)]
    m = render_digest(rows, 20, timezone.utc)
    assert m.subject == "[authwatch] 120 more alerts (over 20 a minute)"
    assert m.lines[0] == "- 2026-11-22 16:05:59 +0000  u0@web1 from 198.51.100.7 (BR) — login"
    assert len(m.lines) == 101 and m.lines[-1].startswith("... and 20 more")
    assert render_digest(rows, 20, timezone.utc).key == m.key != render_digest(rows[1:], 20, timezone.utc).key
    assert summary_line(rows[3], timezone.utc).endswith("u3@web1 from 198.51.100.7 (BR) — login")


def test_encoded_words_in_a_user_name_cannot_rewrite_the_subject():
    """A mail program decodes `=?utf-8?b?...?=` in a header: a user name made
    of one must arrive as the literal text, not as a new subject."""
    import email
    from email import policy

    from authwatch.deliver.mail import compose

    spoof = "=?utf-8?b?cm9vdEB3ZWIxIGZyb20gMTAuMC4wLjUg4oCUIGxvZ2lu?="
    m = render(row({"user": spoof}), timezone.utc)
    raw = compose(m, "example.com").as_bytes()
    subject = email.message_from_bytes(raw, policy=policy.default)["Subject"]
    assert "root@web1 from 10.0.0.5" not in subject
    assert subject.startswith("[authwatch] =\u2060?utf-8?b?")


def test_invisible_characters_are_shown():
    for sneaky in ("ro\u200bot", "ro\u200eot", "\ufeffroot", "ro\u2060ot", "ro\U000e0041ot", "é\u202etoor"):
        shown = inert.clean(sneaky)
        assert shown != sneaky and ("\\u" in shown or "\\U" in shown), sneaky


def test_the_local_domain_is_found_without_a_lookup(tmp_path, monkeypatch):
    """Message-ID and sendmail's default From: the host name if qualified,
    else /etc/mailname, else the bare host name; never socket.getfqdn()."""
    import socket

    from authwatch.deliver import mail

    def fail(*args):
        raise AssertionError("no lookup")

    for lookup in ("getfqdn", "gethostbyname", "gethostbyaddr", "getaddrinfo"):
        monkeypatch.setattr(socket, lookup, fail)
    mailname = tmp_path / "mailname"
    monkeypatch.setattr(mail, "MAILNAME", str(mailname))
    cases = [("web1.example.com", "mail.example.org\n", "web1.example.com"),
             ("web1", "mail.example.org\n", "mail.example.org"),
             ("web1", None, "web1"),
             ("web1", "not a name\n", "web1"),
             ("bad name", None, "localhost")]
    try:
        for host, content, expected in cases:
            monkeypatch.setattr(socket, "gethostname", lambda host=host: host)
            if content is None:
                mailname.unlink(missing_ok=True)
            else:
                mailname.write_text(content)
            mail.local_domain.cache_clear()
            assert mail.local_domain() == expected, host
    finally:
        mail.local_domain.cache_clear()
