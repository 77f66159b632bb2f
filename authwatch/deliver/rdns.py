"""Reverse DNS of the client address: opt-in, per alert, bounded, cached.

The one network lookup authwatch makes (`delivery.reverse_dns: true`). It is
done when a message is written, not for every event, waits at most
`reverse_dns_timeout`, and remembers answers (and failures) for an hour. The
name is whatever the address's owner put in its PTR record, so messages call
it unverified, and it is cleaned like any other untrusted text.

`socket.gethostbyaddr` cannot be given a timeout, so each lookup runs in a
daemon thread: one that is still waiting never delays a message or holds the
process open at exit, and its answer is cached for the next alert.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

TTL = 3600.0
MAX_CACHED = 10_000


class ReverseDns:
    def __init__(self, timeout: float, resolve: Callable[[str], tuple] = socket.gethostbyaddr, ttl: float = TTL):
        self.timeout = timeout
        self._resolve = resolve
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | None]] = {}  # ip -> (expires, name or None)
        self._pending: dict[str, threading.Event] = {}

    def __call__(self, ip: str) -> str | None:
        """The name of `ip`, or None (no PTR record, or no answer in time)."""
        with self._lock:
            hit = self._cache.get(ip)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            done = self._pending.get(ip)
            if done is None:
                done = self._pending[ip] = threading.Event()
                threading.Thread(target=self._lookup, args=(ip, done), name="authwatch-rdns", daemon=True).start()
        done.wait(self.timeout)
        with self._lock:
            hit = self._cache.get(ip)
            return hit[1] if hit else None

    def _lookup(self, ip: str, done: threading.Event) -> None:
        try:
            name: str | None = self._resolve(ip)[0] or None
        except (OSError, UnicodeError, ValueError):
            name = None
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[ip] = (time.monotonic() + self._ttl, name)
            del self._pending[ip]
        done.set()
