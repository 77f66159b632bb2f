"""`authwatch run` in a thread of the test process, on a configuration of
the test's making, and a look at its outbox."""

from __future__ import annotations

import threading
import time

from authwatch import config
from authwatch.service import Service
from authwatch.store import QueuedAlert, Store


def settings_for(tmp_path, sources, extra="", poll_interval=60):
    text = f"state: {tmp_path}/state.db\nsources: {sources}\npoll_interval: {poll_interval}\n{extra}"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return config.parse(text, str(path)), str(path)


class Running:
    """`authwatch run` in a thread of this process."""

    def __init__(self, tmp_path, sources, extra="", poll_interval=60):
        self.settings, self.config_file = settings_for(tmp_path, sources, extra, poll_interval)
        self.service = Service(self.settings, config_file=self.config_file)
        self.thread = threading.Thread(target=self._run, daemon=True)  # never keeps a failed test run alive
        self.error = None

    def _run(self):
        try:
            self.service.run()
        except BaseException as e:  # shown by stop()
            self.error = e

    def __enter__(self):
        self.service.open()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.thread.is_alive():
            self.service.request_stop()
            self.thread.join(10)
            assert not self.thread.is_alive()
            self.service.close()
        assert self.error is None, self.error

    def ports(self):
        with self.store() as s:
            return [a.event["port"] for a in s.queued_alerts()]

    def queued(self, after: int = 0) -> list[QueuedAlert]:
        with self.store() as s:
            return s.queued_alerts(after)

    def store(self):
        return Store(self.settings.state)

    def wait_for(self, ports, timeout=3.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store() as s:
                got = [a.event["port"] for a in s.queued_alerts()]
            if got == ports:
                return time.monotonic()
            time.sleep(0.01)
        raise AssertionError(f"outbox holds {got}, expected {ports}")
