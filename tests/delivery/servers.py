"""Real servers on loopback for the delivery tests: an HTTP receiver (for
Apprise's json://, Slack and Mattermost plugins) and an SMTP server
(aiosmtpd: plain, STARTTLS, implicit TLS), plus a self-signed certificate
made for each test session."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple


class Request(NamedTuple):
    path: str
    headers: dict[str, str]
    body: bytes
    received: float  # time.time()

    def json(self) -> Any:
        return json.loads(self.body)


class _Recorder:
    """What a server received, and a wait for the n-th arrival."""

    def __init__(self):
        self.received: list = []
        self._arrived = threading.Condition()

    def _record(self, item) -> None:
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> list:
        end = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < n and time.monotonic() < end:
                self._arrived.wait(end - time.monotonic())
        return list(self.received)


class HttpReceiver(_Recorder):
    """Records every POST. `status`/`reply`: the answer; `fail_when(req)`:
    answer 500 instead; `delay`: seconds before answering."""

    def __init__(self, reply: bytes = b"ok", port: int = 0):
        super().__init__()
        self.requests: list[Request] = self.received
        self.status = 200
        self.reply = reply
        self.delay = 0.0
        self.fail_when = lambda request: False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Request(self.path, dict(self.headers), body, time.time())
                if receiver.delay:
                    time.sleep(receiver.delay)
                failed = receiver.status != 200 or receiver.fail_when(request)
                if not failed:
                    receiver._record(request)
                self.send_response(500 if failed else 200)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mail(NamedTuple):
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool


class SmtpServer(_Recorder):
    """aiosmtpd on 127.0.0.1: `mode` plain, starttls (required) or ssl."""

    def __init__(self, mode: str = "plain", cert: tuple[str, str] | None = None, port: int = 0):
        import ssl

        from aiosmtpd.controller import Controller

        super().__init__()
        self.mails: list[Mail] = self.received
        server = self

        class Handler:
            async def handle_DATA(self, smtp_server, session, envelope):
                message = message_from_bytes(envelope.original_content, policy=policy.default)
                tls = session.ssl is not None or smtp_server.transport.get_extra_info("ssl_object") is not None
                server._record(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, tls))
                return "250 OK"

        context = None
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
        self.port = port or free_port()
        kwargs: dict[str, Any] = {}
        if mode == "starttls":
            kwargs = {"tls_context": context, "require_starttls": True}
        elif mode == "ssl":
            kwargs = {"ssl_context": context}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost, and its key: (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authwatch test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
