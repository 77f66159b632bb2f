"""Every sshd message shape, each with a real-looking line."""

from datetime import datetime, timezone

import pytest

from authwatch.event import Cert, Event
from authwatch.parse.sshd import NOISE, UNKNOWN, parse_message

T = datetime(2026, 11, 22, 15, 4, 5, 123456, tzinfo=timezone.utc)
FP = "SHA256:wKir7t5C+F3HKIautt+nkGIQDJnw2CjXeEkiko4N1LI"
CA = "SHA256:Ks3XiiXSzhf5Xd9PrJDdqrS6V8bb7Nl+sQXRwkRfdkI"


def parse(msg: str, ident: str = "sshd-session") -> Event | str:
    return parse_message(msg, ident, 4242, "web1", T, "auth.log:7")


def fields(e: Event, *names: str) -> tuple:
    return tuple(getattr(e, n) for n in names)


# -- logins -------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg, method, key_type, key",
    [
        (f"Accepted publickey for alice from 198.51.100.7 port 52144 ssh2: ED25519 {FP}", "publickey", "ED25519", FP),
        (f"Accepted publickey for alice from 198.51.100.7 port 52144 ssh2: RSA {FP}", "publickey", "RSA", FP),
        (f"Accepted publickey for alice from 198.51.100.7 port 52144 ssh2: ECDSA-SK {FP}", "publickey", "ECDSA-SK", FP),
        ("Accepted password for alice from 198.51.100.7 port 52144 ssh2", "password", None, None),
        ("Accepted keyboard-interactive/pam for alice from 198.51.100.7 port 52144 ssh2",
         "keyboard-interactive/pam", None, None),
        ("Accepted none for alice from 198.51.100.7 port 52144 ssh2", "none", None, None),
        # old RHEL builds print MD5 fingerprints
        ("Accepted publickey for alice from 198.51.100.7 port 52144 ssh2: RSA 01:67:32:a4:9f:3e:2b:11:55:77:88:99:aa:bb:cc:dd",
         "publickey", "RSA", "01:67:32:a4:9f:3e:2b:11:55:77:88:99:aa:bb:cc:dd"),
    ],
)
def test_accepted(msg, method, key_type, key):
    e = parse(msg)
    assert e.kind == "login"
    assert fields(e, "user", "ip", "port", "method", "methods", "key_type", "key") == (
        "alice", "198.51.100.7", 52144, method, (method,), key_type, key,
    )
    assert fields(e, "host", "time", "pid", "ident", "source", "preauth") == (
        "web1", T, 4242, "sshd-session", "auth.log:7", False,
    )


def test_accepted_certificate_keeps_id_serial_and_ca():
    e = parse(f"Accepted publickey for alice from 198.51.100.7 port 52144 ssh2: "
              f"ED25519-CERT {FP} ID alice@corp (serial 7) CA ED25519 {CA}")
    assert e.key_type == "ED25519-CERT" and e.key == FP
    assert e.cert == Cert("alice@corp", 7, "ED25519", CA)


def test_certificate_id_with_spaces():
    e = parse(f"Accepted publickey for alice from 198.51.100.7 port 52144 ssh2: "
              f"RSA-CERT {FP} ID Alice Smith (laptop) (serial 18446744073709551615) CA RSA {CA}")
    assert e.cert == Cert("Alice Smith (laptop)", 18446744073709551615, "RSA", CA)


def test_hostbased_keeps_client_user_and_host():
    e = parse(f'Accepted hostbased for alice from 198.51.100.7 port 52144 ssh2: ED25519 {FP}, '
              f'client user "alice", client host "build1.example.com"')
    assert e.method == "hostbased" and e.key == FP
    assert e.detail == 'client user "alice", client host "build1.example.com"'


def test_gssapi_keeps_principal():
    e = parse("Accepted gssapi-with-mic for alice from 198.51.100.7 port 52144 ssh2: alice@EXAMPLE.COM")
    assert fields(e, "kind", "method", "user", "ip", "detail") == (
        "login", "gssapi-with-mic", "alice", "198.51.100.7", "alice@EXAMPLE.COM",
    )


def test_ipv6_and_ipv4_mapped():
    e = parse("Accepted password for alice from 2001:db8::7 port 52144 ssh2")
    assert e.ip == "2001:db8::7"
    e = parse("Accepted password for alice from 2001:0db8:0000:0000:0000:0000:0000:0007 port 52144 ssh2")
    assert e.ip == "2001:db8::7"  # canonical form
    e = parse("Accepted password for alice from ::ffff:198.51.100.7 port 52144 ssh2")
    assert e.ip == "198.51.100.7"


def test_partial_is_a_first_factor():
    e = parse(f"Partial publickey for carol from 198.51.100.7 port 52144 ssh2: ED25519 {FP}")
    assert fields(e, "kind", "method", "key", "user") == ("partial", "publickey", FP, "carol")


def test_accepted_key_found_at():
    e = parse(f"Accepted key ED25519 {FP} found at /home/alice/.ssh/authorized_keys:3")
    assert fields(e, "kind", "key", "key_type", "key_location") == (
        "key_found", FP, "ED25519", "/home/alice/.ssh/authorized_keys:3",
    )


# -- failures -------------------------------------------------------------------


def test_failed_password_valid_user():
    e = parse("Failed password for root from 203.0.113.5 port 40000 ssh2")
    assert fields(e, "kind", "user", "ip", "port", "method", "invalid_user", "preauth") == (
        "failure", "root", "203.0.113.5", 40000, "password", False, True,
    )


def test_failed_for_invalid_user():
    e = parse("Failed password for invalid user admin from 203.0.113.5 port 40000 ssh2")
    assert fields(e, "kind", "user", "invalid_user") == ("failure", "admin", True)
    e = parse("Failed none for invalid user oracle from 203.0.113.5 port 40000 ssh2")
    assert fields(e, "method", "user", "invalid_user") == ("none", "oracle", True)


def test_failed_publickey_keeps_key():
    e = parse(f"Failed publickey for alice from 203.0.113.5 port 40000 ssh2: ED25519 {FP}")
    assert fields(e, "kind", "key", "key_type") == ("failure", FP, "ED25519")


def test_invalid_user():
    e = parse("Invalid user admin from 203.0.113.5 port 40000")
    assert fields(e, "kind", "user", "ip", "port", "invalid_user") == (
        "invalid_user", "admin", "203.0.113.5", 40000, True,
    )
    # OpenSSH before 7.5 logged no port; very old ones said "Illegal"
    assert parse("Invalid user admin from 203.0.113.5").port is None
    assert parse("Illegal user admin from 203.0.113.5").kind == "invalid_user"


def test_empty_invalid_user_name():
    e = parse("Invalid user  from 203.0.113.5 port 40000")
    assert (e.user, e.ip) == ("", "203.0.113.5")


@pytest.mark.parametrize(
    "msg, user, invalid",
    [
        ("Connection closed by authenticating user alice 203.0.113.5 port 40000 [preauth]", "alice", False),
        ("Connection closed by invalid user admin 203.0.113.5 port 40000 [preauth]", "admin", True),
        ("Connection reset by authenticating user root 203.0.113.5 port 40000 [preauth]", "root", False),
        ("Connection closed by 203.0.113.5 port 40000 [preauth]", None, False),
        ("Disconnected from authenticating user root 203.0.113.5 port 40000 [preauth]", "root", False),
        ("Disconnected from invalid user admin 203.0.113.5 port 40000 [preauth]", "admin", True),
        ("Connection closed by 192.0.2.112 [preauth]", None, False),  # OpenSSH < 7.5
    ],
)
def test_preauth_disconnects(msg, user, invalid):
    e = parse(msg)
    assert e.kind == "disconnect"
    assert (e.user, e.invalid_user, e.preauth) == (user, invalid, True)
    assert e.ip in ("203.0.113.5", "192.0.2.112")


# -- sessions and logouts ---------------------------------------------------------


def test_disconnected_from_user_is_a_logout():
    e = parse("Disconnected from user alice 198.51.100.7 port 52144")
    assert fields(e, "kind", "user", "ip", "port", "preauth") == ("logout", "alice", "198.51.100.7", 52144, False)


def test_post_auth_connection_closed_is_noise():
    assert parse("Connection closed by 198.51.100.7 port 52144") == NOISE


@pytest.mark.parametrize(
    "msg, session, tty, detail",
    [
        ("Starting session: shell on pts/0 for alice from 198.51.100.7 port 52144 id 0", "shell", "pts/0", None),
        ("Starting session: command for alice from 198.51.100.7 port 52144 id 0", "exec", None, None),
        ("Starting session: command on pts/1 for alice from 198.51.100.7 port 52144 id 0", "exec", "pts/1", None),
        ("Starting session: subsystem 'sftp' for alice from 198.51.100.7 port 52144 id 0", "sftp", None, None),
        ("Starting session: subsystem 'netconf' for alice from 198.51.100.7 port 52144 id 0", "exec", None,
         "subsystem netconf"),
        ("Starting session: forced-command (config) 'internal-sftp' for alice from 198.51.100.7 port 52144 id 0",
         "sftp", None, "forced command internal-sftp"),
        ("Starting session: forced-command (key-option) '/usr/lib/openssh/sftp-server -l INFO' for alice "
         "from 198.51.100.7 port 52144 id 0", "sftp", None, "forced command /usr/lib/openssh/sftp-server -l INFO"),
        ("Starting session: forced-command (config) '/usr/local/bin/backup --pull' on pts/2 for alice "
         "from 198.51.100.7 port 52144 id 1", "exec", "pts/2", "forced command /usr/local/bin/backup --pull"),
    ],
)
def test_starting_session(msg, session, tty, detail):
    e = parse(msg)
    assert fields(e, "kind", "session", "tty", "detail", "user", "ip", "port") == (
        "session", session, tty, detail, "alice", "198.51.100.7", 52144,
    )


@pytest.mark.parametrize(
    "msg, kind",
    [
        ("pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)", "session"),
        ("pam_unix(sshd:session): session opened for user alice by (uid=0)", "session"),  # Linux-PAM < 1.4
        ("pam_unix(sshd:session): session closed for user alice", "logout"),
        ("pam_unix(system-remote-login:session): session opened for user alice(uid=1000) by alice(uid=0)",
         "session"),
    ],
)
def test_pam_sessions(msg, kind):
    e = parse(msg, ident="sshd")
    assert (e.kind, e.user, e.detail, e.ip) == (kind, "alice", "pam_unix", None)


@pytest.mark.parametrize("ident", ["internal-sftp", "sftp-server"])
def test_sftp_server_session_lines(ident):
    e = parse("session opened for local user alice from [198.51.100.7]", ident=ident)
    assert fields(e, "kind", "session", "user", "ip", "port") == ("session", "sftp", "alice", "198.51.100.7", None)
    e = parse("session closed for local user alice from [2001:db8::7]", ident=ident)
    assert fields(e, "kind", "ip") == ("logout", "2001:db8::7")
    assert parse('open "/home/alice/x" flags READ mode 0666', ident=ident) == NOISE


# -- noise and unknown -------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [
        "Received disconnect from 203.0.113.5 port 40000:11: Bye Bye [preauth]",
        "Connection from 198.51.100.7 port 52144 on 192.0.2.1 port 22 rdomain \"\"",
        "Server listening on 0.0.0.0 port 22.",
        "Postponed publickey for alice from 198.51.100.7 port 52144 ssh2 [preauth]",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5",
        "pam_unix(sshd:auth): check pass; user unknown",
        "pam_limits(sshd:session): Could not set limit for 'nofile' to soft=1024, hard=524288: Operation not permitted",
        "error: kex_exchange_identification: Connection closed by remote host",
        "Disconnecting invalid user admin 203.0.113.5 port 40000: Too many authentication failures [preauth]",
        "User child is on pid 8142",
        f"Accepted certificate ID \"alice@corp\" (serial 7) signed by ED25519 CA {CA} via /etc/ssh/ca.pub",
        "banner exchange: Connection from 203.0.113.5 port 40000: invalid format",
        "Unable to negotiate with 203.0.113.5 port 40000: no matching key exchange method found.",
        "Timeout before authentication for connection from 203.0.113.5 to 192.0.2.1, pid = 9999",
    ],
)
def test_known_noise(msg):
    assert parse(msg) == NOISE


@pytest.mark.parametrize(
    "msg",
    [
        "Accepted password for alice from 198.51.100.7 port 52144",  # no ssh2
        "Accepted password for alice from 999.1.1.1 port 52144 ssh2",  # not an address
        "Accepted password for alice from 2001:db8::zz port 52144 ssh2",
        "Failed password for root from somewhere.example.com port 22 ssh2",
        "Starting session: teleport for alice from 198.51.100.7 port 52144 id 0",
        "pam_unix(sshd:session): session paused for user alice",
        "Something entirely new from OpenSSH 11",
    ],
)
def test_unknown_shapes(msg):
    assert parse(msg) == UNKNOWN


@pytest.mark.parametrize("port", ["65536", "99999"])
def test_a_port_sshd_cannot_log_is_an_unknown_shape(port):
    assert parse(f"Accepted password for alice from 198.51.100.7 port {port} ssh2") == UNKNOWN
    assert parse(f"Invalid user admin from 203.0.113.5 port {port}") == UNKNOWN
    assert parse("Accepted password for alice from 198.51.100.7 port 65535 ssh2").port == 65535
