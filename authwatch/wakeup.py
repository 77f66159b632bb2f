"""Waking the service when there is something to read, without busy polling.

`Waker` is a self-pipe: anything (the inotify thread, a signal handler,
another component) calls `wake()`, and the service's loop, asleep in
`wait(timeout)`, returns at once. A pipe rather than a threading.Event,
because a signal handler may run while the main thread holds the Event's
lock, and a pipe write is safe there.

`DirWatcher` asks the kernel (inotify, through watchdog) about the
directories of the followed files, and wakes the service when a followed
file (or a rotated sibling of one) changes, or a file is created, moved or
deleted there. Changes to other files in the same directory (/var/log holds
many busy logs) are let go.
"""

from __future__ import annotations

import logging
import os
import select
from collections.abc import Iterable

from watchdog.events import (
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

# watchdog logs a race of its own when it stops while reading an event
# ("InotifyEmitter.queue_events() called when the thread is inactive"), which
# Python would print bare on stderr at every stop. What matters of watchdog's
# failures reaches this module as exceptions, and the safety poll covers them.
logging.getLogger("watchdog").addHandler(logging.NullHandler())
logging.getLogger("watchdog").propagate = False
from watchdog.observers.api import ObservedWatch

from authwatch.sources.rotated import rotated_of


class Waker:
    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        try:
            os.write(self._w, b"!")
        except BlockingIOError:
            pass  # the pipe is full: a wake-up is pending anyway

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or `timeout` seconds; True if woken."""
        ready, _, _ = select.select([self._r], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


class DirWatcher(FileSystemEventHandler):
    _EVENTS = [FileModifiedEvent, FileCreatedEvent, FileMovedEvent, FileDeletedEvent]

    def __init__(self, waker: Waker):
        self.waker = waker
        self.changed = False  # a file appeared, moved or went: sources may have to be resolved again
        self._paths: frozenset[str] = frozenset()  # the followed files (as named and as resolved)
        self._watches: dict[str, ObservedWatch] = {}
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()

    def watch(self, dirs: Iterable[str], files: Iterable[str]) -> None:
        """Watch exactly `dirs` (those that exist), caring about `files`."""
        self._paths = frozenset(p for path in files for p in (os.path.abspath(path), os.path.realpath(path)))
        wanted = {os.path.realpath(d) for d in dirs if os.path.isdir(d)}
        for d in set(self._watches) - wanted:
            self._observer.unschedule(self._watches.pop(d))
        for d in wanted - set(self._watches):
            try:
                self._watches[d] = self._observer.schedule(self, d, recursive=False, event_filter=self._EVENTS)
            except OSError:
                pass  # gone meanwhile, or not watchable: the safety poll covers it

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(5)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileModifiedEvent) and not self._followed(os.fsdecode(event.src_path)):
            return
        if not isinstance(event, FileModifiedEvent):
            self.changed = True
        self.waker.wake()

    def _followed(self, path: str) -> bool:
        return path in self._paths or rotated_of(path) in self._paths
