"""Client-chosen text cannot move the address, port or user, and arrives
inert at the terminal."""

from datetime import datetime, timezone

import pytest

from authwatch.event import Event
from authwatch.output import block
from authwatch.parse.syslog import Parser
from tests.conftest import FIXTURES

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)


def injection_events() -> list[tuple[int, Event]]:
    text = (FIXTURES / "injection.log").read_bytes().decode("utf-8", "replace").rstrip("\n")
    parser = Parser(NOW, timezone.utc, "injection.log")
    events = parser.parse_block(text, 1)
    assert parser.stats.unknown == parser.stats.malformed == 0
    return [(int(e.source.rsplit(":", 1)[1]), e) for e in events]


def test_every_line_is_an_event():
    lines = (FIXTURES / "injection.log").read_bytes().count(b"\n")
    assert len(injection_events()) == lines > 20


@pytest.mark.parametrize("lineno, event", injection_events(), ids=lambda x: str(x) if isinstance(x, int) else "")
def test_address_and_port_are_the_real_ones(lineno, event):
    assert event.ip == "203.0.113.5"
    assert event.port == 40000 + lineno


def test_user_names_keep_their_spoof_text_inside_the_user_field():
    users = {n: e.user for n, e in injection_events()}
    assert users[1] == "x from 6.6.6.6 port 22"
    assert users[5] == "from 10.10.1.1"
    assert users[6] == "test 6.6.6.6 port 22"
    assert users[8] == "john smith"
    assert users[20] == users[21] == "bob"  # hostbased: the client's text stays in the detail


def test_hostbased_client_text_stays_in_the_detail():
    e = dict(injection_events())[21]
    assert e.key == "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI"
    assert e.detail.startswith('client user "x from 6.6.6.6 port 22 ssh2: ED25519 ')


def test_certificate_id_text_stays_in_the_certificate():
    e = dict(injection_events())[22]
    assert e.cert.id.startswith("evil from 6.6.6.6 port 22 ssh2")
    assert e.cert.serial == 1


def test_terminal_block_shows_control_characters_escaped():
    for _, e in injection_events():
        shown = block(e, None)
        assert "\x1b" not in shown and "\r" not in shown
        assert len(shown.splitlines()) == len(block(e._replace(user="u"), None).splitlines())
    e = dict(injection_events())[15]
    assert "\\x1b[2J" in block(e, None)


def test_long_user_names_are_cut_for_the_terminal():
    e = dict(injection_events())[16]
    assert len(e.user) == 2000
    assert "(1800 more characters)" in block(e, None)
