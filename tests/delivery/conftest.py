"""Fixtures for the delivery tests: real receivers on loopback, settings,
and alerts queued in a real state store."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus

import pytest
from requests.utils import requote_uri

from authwatch.alert import Alert
from authwatch.config import DeliverySettings, Settings
from authwatch.event import Event, event_id
from authwatch.store import Store
from tests.delivery.servers import HttpReceiver, self_signed_cert

T = datetime(2026, 11, 22, 15, 4, 5, tzinfo=timezone.utc)
TOKEN = "Zm9v+YmFy/YmF6="  # "+", "/" and "=": each library percent-encodes these its own way


def encodings(token: str) -> set[str]:
    """The forms a token of a URL takes once requests, urllib3 or Apprise quote it again."""
    return {token, token.replace("+", " "), requote_uri(token), quote_plus(token), quote_plus(token, safe="/")} | {
        quote(token, safe=safe) for safe in ("", "/", "+", "=", "+=", "/+=")} | {
        re.sub("%..", lambda m: m.group().lower(), quote(token, safe=""))}


def settings(state: str, targets: dict, **delivery) -> Settings:
    """Settings with `targets` (name -> URL or mapping) and delivery options."""
    specs = {name: ({"url": spec} if isinstance(spec, str) else dict(spec)) | {"where": f"test:{name}"}
             for name, spec in targets.items()}
    return Settings(file=None, state=state, tz=timezone.utc, targets=specs, delivery=DeliverySettings(**delivery))


def login(user="alice", ip="198.51.100.7", port=53858, severity="info", targets=("t",), host="web1",
          reasons=("every login alerts (built-in default)",), rule=None, second=0, **fields) -> Alert:
    e = Event("login", T.replace(second=second % 60), host, user, ip, port, "publickey", ("publickey",),
              "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI", "ED25519", session="shell", tty="pts/0",
              ident="sshd", pid=1234, source="auth.log:6")
    alert = Alert(event_id(e), e, severity, rule, list(reasons), tuple(targets))
    if fields:  # enrichment fields, as later stages will add them to the event's JSON
        alert = _with_json(alert, fields)
    return alert


def _with_json(alert: Alert, fields: dict) -> Alert:
    class Enriched(Alert):
        def event_json(self):
            return super().event_json() | fields

    return Enriched(*alert)


def queue(path: str, alerts) -> list[Alert]:
    alerts = list(alerts)
    with Store(path) as store:
        store.enqueue(alerts)
    return alerts


@pytest.fixture
def state(tmp_path) -> str:
    return str(tmp_path / "state.db")


@pytest.fixture
def receiver():
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def cert(tmp_path_factory) -> tuple[str, str]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))
