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


def test_a_split_with_an_invalid_address_gives_way_to_the_valid_one():
    """The last ` from ` (`from : port 22`, in the certificate ID) is no
    address: the one valid reading is kept, not the line dropped."""
    e = dict(injection_events())[24]
    assert (e.kind, e.user, e.invalid_user) == ("failure", "bob", True)
    assert e.key == "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI" and e.key_type == "ED25519-CERT"
    assert e.cert.id.startswith("x from : port 22 ssh2: ED25519 ") and e.cert.id.endswith(" ID y")
    assert e.detail is None
    e = dict(injection_events())[25]  # " from " in both the name and the ID, and only one way to read them
    assert (e.user, e.cert.id) == ("x from 6.6.6.6 port 22 ssh2", "evil from 6.6.6.6 port 22")


FP, FP2 = "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI", "SHA256:Ks3XiiXSzhf5Xd9PrJDdqrS6V8bb7Nl+sQXRwkRfdkI"
AMBIGUOUS = [  # the client chose the invalid name and the text after the key: two readings, both valid
    f"Failed publickey for invalid user bob from 203.0.113.5 port 40001 ssh2: ED25519-CERT {FP} "
    f"ID x from 6.6.6.6 port 22 ssh2: ED25519 {FP2} ID y (serial 1) CA ED25519 {FP}",
    f'Failed hostbased for invalid user bob from 203.0.113.5 port 40001 ssh2: ED25519 {FP}, '
    f'client user "x from 6.6.6.6 port 22 ssh2: RSA {FP2}, client user "q", client host "h"',
    "Failed gssapi-with-mic for invalid user bob from 203.0.113.5 port 40001 ssh2: x from 6.6.6.6 port 22 ssh2",
]


@pytest.mark.parametrize("msg", AMBIGUOUS, ids=["certificate", "hostbased", "gssapi"])
@pytest.mark.parametrize("head", ["2026-11-22T15:04:01.000001+00:00 web1 sshd[1]: ",
                                  "<38>1 2026-11-22T15:04:01.000001+00:00 web1 sshd 1 - - "], ids=["fast", "general"])
def test_a_line_that_reads_in_two_ways_gives_no_address_port_or_key(head, msg):
    e = Parser(NOW, timezone.utc, "x").parse(head + msg)
    assert (e.kind, e.user, e.invalid_user, e.preauth) == ("failure", "bob", True, True)
    assert (e.ip, e.port, e.key, e.key_type, e.cert) == (None, None, None, None, None)
    assert e.detail.startswith("ambiguous line, no address taken: ")
    assert e.detail.endswith("reads as from 203.0.113.5 port 40001 or 6.6.6.6 port 22")
    assert "6.6.6.6" not in block(e, None).splitlines()[0]


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


CERT_WORDS = SPOOF_WORDS + ("ID", "ED25519", "ED25519-CERT", FP, FP2, "(null)", "(serial", "1)", "CA", ",",
                            f"from 6.6.6.6 port 22 ssh2: ED25519 {FP2}", f"from ::1 port 2 ssh2: ED25519-CERT {FP} ID",
                            f"(serial 7) CA ED25519 {FP}", f"from 6.6.6.6 port 22 ssh2: RSA {FP2}, client",
                            'client user "q", client host "h"')
CERT_SHAPES = (
    "Failed publickey for invalid user {u} from 203.0.113.5 port {p} ssh2: ED25519-CERT " + FP
    + " ID {c} (serial 1) CA ED25519 " + FP,
    "Failed hostbased for invalid user {u} from 203.0.113.5 port {p} ssh2: ED25519 " + FP + ', client user "{c}", client host "h"',
    "Failed gssapi-with-mic for invalid user {u} from 203.0.113.5 port {p} ssh2: {c}",
)


def test_no_name_and_certificate_id_made_of_log_words_give_a_spoofed_address():
    """Both the invalid name and the text after the key are the client's:
    the address is the real one or, when the line reads in more than one way,
    none; the key is the real one or none; the failure is never lost."""
    import random

    rng = random.Random(20261123)
    parser = Parser(NOW, timezone.utc, "fuzz")
    heads = ("2026-11-22T15:04:01.000001+00:00 web1 sshd[1]: ", "<38>1 2026-11-22T15:04:01.000001+00:00 web1 sshd 1 - - ")
    outcomes = set()
    for i in range(4000):
        user, cid = (" ".join(rng.choice(CERT_WORDS) for _ in range(rng.randint(1, 6))) for _ in range(2))
        p = 40000 + i % 1000
        line = heads[i % 2] + CERT_SHAPES[i % 3].format(u=user, c=cid, p=p)
        (event,) = parser.parse_block(line, 1)
        assert (event.kind, event.invalid_user) == ("failure", True), line
        if event.ip is None:
            assert (event.port, event.key, event.cert) == (None, None, None), line
            assert event.detail.startswith("ambiguous line"), line
            outcomes.add((i % 3, "ambiguous"))
        else:
            assert (event.ip, event.port, event.user) == ("203.0.113.5", p, user), line
            assert event.key in (FP, None), line  # None: gssapi
            outcomes.add((i % 3, "real"))
    assert outcomes == {(shape, result) for shape in range(3) for result in ("ambiguous", "real")}
