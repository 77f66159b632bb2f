"""E-mail to a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS and
implicit TLS with a certificate made for the test; the headers and both body
parts as received; a user name that tries header and HTML injection; and an
outage with a restart in between."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from authwatch.deliver.delivery import Delivery
from authwatch.deliver.targets import DeliveryError, build
from authwatch.store import Store
from tests.conftest import REPO
from tests.delivery.conftest import login, queue, settings
from tests.delivery.servers import SmtpServer, free_port


@pytest.fixture
def trust(cert, monkeypatch):
    """Trust the test's self-signed certificate (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", cert[0])


def deliver(state, url, alerts, **delivery):
    queue(state, alerts)
    return Delivery(settings(state, {"t": url}, rate_limit=0, **delivery), state).run_once(time.time() + 20)


ADDRESSES = "from=SSH%20Alert%20<alerts@web1.example.com>&to=ops@example.com,sec@example.com&cc=boss@example.com"


@pytest.mark.parametrize("mode, url", [
    ("plain", "mailto://127.0.0.1:{port}?" + ADDRESSES),
    ("starttls", "mailtos://127.0.0.1:{port}?" + ADDRESSES),
    ("ssl", "mailtos://127.0.0.1:{port}?mode=ssl&" + ADDRESSES),
], ids=["plain", "starttls", "implicit-tls"])
def test_the_message_has_its_headers_and_both_parts(state, cert, trust, mode, url):
    """Plain SMTP, STARTTLS (required by the server) and implicit TLS: the
    same complete message arrives each way."""
    server = SmtpServer(mode, None if mode == "plain" else cert)
    try:
        alert = login()
        report = deliver(state, url.format(port=server.port), [alert])
        assert report.ok and report.sent == 1
        (mail,) = server.wait_for(1)
        assert mail.tls == (mode != "plain")
        assert_complete(mail, alert)
    finally:
        server.close()


def assert_complete(mail, alert):
    """The envelope, the headers and both body parts of one alert's mail, as
    the server received it."""
    m = mail.message
    assert mail.mail_from == "alerts@web1.example.com"
    assert sorted(mail.rcpt_tos) == ["boss@example.com", "ops@example.com", "sec@example.com"]
    assert m["From"] == "SSH Alert <alerts@web1.example.com>"
    assert m["To"] == "ops@example.com, sec@example.com" and m["Cc"] == "boss@example.com"
    assert m["Subject"] == "[authwatch] alice@web1 from 198.51.100.7 — login"
    assert m["Message-ID"] == f"<{alert.id}.authwatch@web1.example.com>"
    assert m["Date"] and m["Auto-Submitted"] == "auto-generated"
    assert m.get_content_type() == "multipart/alternative"
    text = m.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = m.get_body(("html",)).get_content()
    assert text.startswith("New SSH login detected on web1.\nIP address  : 198.51.100.7 (port 53858)\n")
    assert "Auth method : publickey (ED25519 SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI)" in text
    assert "<th align=\"left\" style=\"padding-right:1em\">Username</th><td>alice</td>" in html
    assert len(m.get_all("Message-ID")) == 1


def test_port_465_means_implicit_tls_unless_the_url_says_otherwise(state):
    s = settings(state, {"a": "mailtos://u:p@smtp.example.com:465?from=a@example.com&to=o@example.com",
                         "b": "mailtos://u:p@smtp.example.com:465?mode=starttls&from=a@example.com&to=o@example.com",
                         "c": "mailtos://u:p@smtp.example.com?from=a@example.com&to=o@example.com"})
    t = build(s)
    assert (t["a"].mode, t["b"].mode, t["c"].mode, t["c"].port) == ("ssl", "starttls", "starttls", 587)


def test_an_untrusted_certificate_is_an_exact_error_without_the_password(state, cert):
    server = SmtpServer("ssl", cert)
    try:
        url = f"mailtos://alerts:hunter2secret@127.0.0.1:{server.port}?mode=ssl&from=a@example.com&to=o@example.com"
        target = build(settings(state, {"t": url}))["t"]
        from authwatch.deliver.message import render_test

        with pytest.raises(DeliveryError) as e:
            target.send(render_test("t", "web1"))
        assert f"smtp 127.0.0.1:{server.port} (ssl): SSLCertVerificationError" in str(e.value)
        assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) and "hunter2secret" not in str(e.value)
    finally:
        server.close()


def test_a_hostile_user_name_cannot_add_headers_or_markup(state):
    server = SmtpServer("plain")
    try:
        name = "<b>x</b>\r\nBcc: evil@example.com\r\n\r\n<a href=http://evil>"
        assert deliver(state, f"mailto://127.0.0.1:{server.port}?from=a@example.com&to=o@example.com",
                       [login(user=name)]).ok
        (mail,) = server.wait_for(1)
        m = mail.message
        assert mail.rcpt_tos == ["o@example.com"] and m["Bcc"] is None
        assert "\n" not in m["Subject"] and "\\x0d\\x0aBcc" in m["Subject"]
        html = m.get_body(("html",)).get_content()
        assert "<b>x</b>" not in html and "<a href" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    finally:
        server.close()


WORKER = textwrap.dedent("""
    import sys, time
    from authwatch.deliver.delivery import Delivery
    from tests.delivery.conftest import settings
    state, url = sys.argv[1:]
    d = Delivery(settings(state, {"t": url}, rate_limit=0, retry_first=0.2, retry_max=0.5, set_aside_after=2), state)
    d.start()
    print("started", flush=True)
    time.sleep(60)
""")


def test_outage_with_a_restart_in_between_every_alert_arrives_once_in_order(state, tmp_path):
    port = free_port()
    url = f"mailto://127.0.0.1:{port}?from=a@example.com&to=o@example.com"
    alerts = queue(state, [login(port=p) for p in range(50)])
    # authwatch runs while the server is down, and is killed (no clean stop).
    worker = subprocess.Popen([sys.executable, "-c", WORKER, state, url], cwd=REPO, stdout=subprocess.PIPE,
                              env=os.environ | {"PYTHONPATH": str(REPO)})
    assert worker.stdout.readline() == b"started\n"
    time.sleep(1.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    with Store(state) as store:
        assert store.undelivered() == 50 and store.target_state("t").failures >= 3
    # The server comes back; a new authwatch picks up where the old one was.
    server = SmtpServer("plain", port=port)
    try:
        delivery = Delivery(settings(state, {"t": url}, rate_limit=0, retry_first=0.2, retry_max=0.5), state)
        delivery.start()
        try:
            mails = server.wait_for(50, timeout=20)
        finally:
            delivery.stop(2)
        ids = [m.message["Message-ID"].split(".")[0].lstrip("<") for m in mails]
        assert ids == [a.id for a in alerts]
        time.sleep(0.3)
        assert len(server.mails) == 50
        with Store(state) as store:
            assert store.undelivered() == 0
    finally:
        server.close()
