"""The hand-made fixtures: a RHEL-style central /var/log/secure and a noisy
brute-force excerpt."""

from tests.conftest import FIXTURES


def stats_of(err: str) -> dict[str, int]:
    rows = [line.rsplit(None, 1) for line in err.splitlines() if line[:1] != " " and line.rsplit(None, 1)[-1][-1:].isdigit()]
    return {label.strip(): int(n.replace(",", "")) for label, n in rows}


def test_rhel_central_log_keeps_each_host_and_knows_every_line(cli):
    r = cli("replay", "--json", "--stats", "--now", "2026-11-22T12:00:00+00:00",
            str(FIXTURES / "rhel-secure-central.log"))
    logins = r.json()
    assert [(e["host"], e["user"], e["ip"], e["method"]) for e in logins] == [
        ("bastion", "ec2-user", "198.51.100.7", "publickey"),
        ("web1", "alice", "2001:db8:1::7", "keyboard-interactive/pam"),
        ("web1", "deploy", "192.0.2.10", "publickey"),
        ("web1", "bob", "192.0.2.20", "gssapi-with-mic"),
    ]
    assert logins[0]["time"] == "2026-11-03T09:01:02+00:00"  # "Nov  3": space-padded day
    assert logins[2]["cert"] == {"id": "ci-runner-17", "serial": 42, "ca_key_type": "ED25519",
                                 "ca_key": "SHA256:Ks3XiiXSzhf5Xd9PrJDdqrS6V8bb7Nl+sQXRwkRfdkI"}
    stats = stats_of(r.err)
    assert stats["sshd lines of unknown shape"] == 0 and stats["lines from other programs"] == 3


def test_brute_force_excerpt(cli):
    path = FIXTURES / "bruteforce-excerpt.log"
    r = cli("replay", "--json", "--events", "--stats", str(path))
    events = r.json()
    kinds = {k: sum(e["kind"] == k for e in events) for k in ("login", "failure", "invalid_user", "disconnect")}
    assert kinds["login"] == path.read_text().count(" Accepted ")
    assert kinds["failure"] == path.read_text().count(" Failed password for ")
    assert kinds["invalid_user"] == path.read_text().count(" Invalid user ")
    assert kinds["disconnect"] > 100
    assert all(e["alert"] for e in events if e["kind"] == "login")
    assert not any(e["alert"] for e in events if e["kind"] != "login")
    stats = stats_of(r.err)
    assert stats["lines read"] == len(path.read_text().splitlines())
    assert stats["sshd lines of unknown shape"] == 0 and stats["malformed lines (skipped)"] == 0
