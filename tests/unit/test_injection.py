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


SPOOF_WORDS = ("from", "port", "22", "6.6.6.6", "::1", "fe80::1%eth0", "[preauth]", "by", "user", "invalid",
               "ssh2", "ssh2:", "x", "", "65535", "1.2.3")
SHAPES = (
    "Invalid user {u} from 203.0.113.5 port {p}",
    "Connection closed by invalid user {u} 203.0.113.5 port {p} [preauth]",
    "Connection reset by authenticating user {u} 203.0.113.5 port {p} [preauth]",
    "Disconnected from invalid user {u} 203.0.113.5 port {p} [preauth]",
    "Disconnected from user {u} 203.0.113.5 port {p}",
    "Failed password for invalid user {u} from 203.0.113.5 port {p} ssh2",
)


def test_no_user_name_made_of_log_words_moves_the_address_or_port():
    """Thousands of names built from the words of sshd's own tails."""
    import random

    rng = random.Random(20261122)
    parser = Parser(NOW, timezone.utc, "fuzz")
    for i in range(4000):
        user = " ".join(rng.choice(SPOOF_WORDS) for _ in range(rng.randint(1, 6)))
        shape = SHAPES[i % len(SHAPES)]
        line = "2026-11-22T15:04:01.000001+00:00 web1 sshd[1]: " + shape.format(u=user, p=40000 + i % 1000)
        (event,) = parser.parse_block(line, 1)
        assert (event.ip, event.port, event.user) == ("203.0.113.5", 40000 + i % 1000, user), line


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59.999999-23:59", "0001-01-01T00:00:00.000001+23:59",
                                   "1969-12-31T23:59:59+00:00"])
def test_a_time_no_log_can_have_is_malformed_not_a_login(stamp):
    """A far-future stamp overflows when shown in another zone; a central log
    takes its lines from other hosts, which choose their stamps."""
    parser = Parser(NOW, timezone.utc, "t")
    for line in (f"{stamp} web1 sshd[1]: Accepted password for alice from 203.0.113.5 port 1 ssh2",
                 f"<38>1 {stamp} web1 sshd 1 - - Accepted password for alice from 203.0.113.5 port 1 ssh2"):
        assert parser.parse(line) == "malformed", line
