"""Reverse DNS: bounded by its timeout, cached (answers and failures), and a
late answer still serves the next alert."""

import socket
import threading
import time

from authwatch.deliver.rdns import ReverseDns


def test_answers_and_failures_are_cached():
    calls = []

    def resolve(ip):
        calls.append(ip)
        if ip == "192.0.2.1":
            raise socket.herror(1, "Unknown host")
        return ("host.example.net", [], [ip])

    rdns = ReverseDns(1.0, resolve)
    assert rdns("198.51.100.7") == "host.example.net" and rdns("198.51.100.7") == "host.example.net"
    assert rdns("192.0.2.1") is None and rdns("192.0.2.1") is None
    assert calls == ["198.51.100.7", "192.0.2.1"]


def test_a_slow_lookup_is_not_waited_for_and_serves_the_next_alert():
    release = threading.Event()

    def resolve(ip):
        release.wait(5)
        return ("late.example.net", [], [ip])

    rdns = ReverseDns(0.1, resolve)
    started = time.monotonic()
    assert rdns("198.51.100.7") is None
    assert time.monotonic() - started < 1
    release.set()
    time.sleep(0.1)
    assert rdns("198.51.100.7") == "late.example.net"


def test_the_real_resolver_for_loopback():
    assert ReverseDns(2.0)("127.0.0.1") in ("localhost", "localhost.localdomain", socket.getfqdn("127.0.0.1"))
