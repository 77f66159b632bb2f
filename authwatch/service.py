"""The follower: `authwatch run` (a service) and `authwatch scan` (cron).

A `Service` owns the state store (and its lock), the pipeline, and the
sources. Each cycle reads what is new in every source, feeds it through the
pipeline, and lets out logins whose hold ran out; the pipeline writes alerts
and positions to the store together. Between cycles `run` sleeps until
inotify (watchdog) reports a change to a followed file, a held login is due,
a signal arrives, or the safety poll (`poll_interval`) is up: no busy loop.

Components that work from the outbox (delivery) are attached with
`attach()` and follow `run`'s life: `start()` when it begins, `wake()`
whenever new alerts were queued, `stop(timeout)` at the end, and
`following(keys)` at once and whenever the sources followed change (the
log sources whose silence means something: `log_sources`). (`scan` only
reads; its caller delivers once afterwards, still holding the lock.)

Events are enriched (GeoIP, history) as in replay: the same Enricher, whose
history changes are written with the alerts and positions.

Failures to write the store (disk full, database locked) pause reading: the
pipeline keeps what it could not write, the error is logged once, and the
write is retried with a growing pause until it succeeds. Nothing is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

from authwatch import config
from authwatch.alert import Alert
from authwatch.config import Settings
from authwatch.enrich.enricher import Enricher, missing_geoip
from authwatch.errors import UserError
from authwatch.notice import Notice
from authwatch.output import summary
from authwatch.pipeline import Pipeline
from authwatch.rules.engine import Engine
from authwatch.sources import Source, configured
from authwatch.sources.file import FileSource, syslog_parser
from authwatch.sources.journal import JournalSource
from authwatch.sources.profile import profile_parser
from authwatch.sources.spool import SpoolSource
from authwatch.statelock import StateLock
from authwatch.store import Store, StoreError
from authwatch.wakeup import DirWatcher, Waker

log = logging.getLogger("authwatch")

RETRY_MAX = 30.0  # seconds between attempts to write a failing store, at most
STOP_TIMEOUT = 10.0  # seconds an attached component gets to stop


class Component(Protocol):
    """Something that runs beside the follower on the same store."""

    def start(self) -> None: ...

    def wake(self) -> None: ...

    def stop(self, timeout: float) -> None: ...

    def following(self, sources: frozenset[str]) -> None: ...


class Busy(UserError):
    """Another process follows with this state database."""


class Service:
    def __init__(self, settings: Settings, *, config_file: str | None = None, from_start: bool = False,
                 scan: bool = False, allow_insecure: bool = False, lock_wait: float = 0.0,
                 reload: Callable[[str | None], Settings] = config.load):
        """`config_file`: what SIGHUP reloads (None: the search path again),
        with `reload`. `from_start`: files never followed are read from their
        beginning, not their end. `scan`: one pass for cron. `allow_insecure`:
        a reloaded configuration others may read or change is taken anyway
        (--insecure-config), as at the start. `lock_wait`: seconds to wait for
        another process to release the state database."""
        self.settings = settings
        self.allow_insecure = allow_insecure
        self.lock_wait = lock_wait
        self._load = reload
        self.config_file = config_file
        self.from_start = from_start
        self.scanning = scan
        self.sources: dict[str, Source] = {}
        # The keys of the sources followed now that grow with every line a
        # host logs: log files and journals, not the PAM hook's spool or
        # ~/.ssh_logins, which grow only with logins (silence there is normal).
        self.log_sources: frozenset[str] = frozenset()
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self.enricher: Enricher | None = None
        self.components: list[Component] = []
        self._lock = StateLock(settings.state)
        self._waker = Waker()
        self._watcher: DirWatcher | None = None
        self._stop = False
        self._reload = False
        self._next_refresh = 0.0
        self._store_notice = Notice(log)
        self._sources_notice = Notice(log)
        self._retry_pause = 0.0
        self._retry_at = 0.0
        self._fresh = False  # a source was added: write its first position now
        self._auto_journal: bool | None = None  # whether `auto` chose the journal (decided at each start)

    # -- life ---------------------------------------------------------------------

    def open(self) -> bool:
        """Take the lock and open the store. False if another process holds
        the lock (`scan` then leaves quietly); raises Busy for `run`."""
        try:
            locked = self._lock.acquire(self.lock_wait)
        except OSError as e:
            raise StoreError(f"state store {self.settings.state}: cannot make its lock: {e.strerror or e}") from None
        if not locked:
            if self.scanning:
                return False
            raise Busy(f"another authwatch (pid {self._lock.holder()}) is already following with the state "
                       f"database {self.settings.state}")
        try:
            self.store = Store(self.settings.state)
        except BaseException:
            self._lock.release()
            raise
        self.pipeline = self._make_pipeline()
        self._refresh_sources(starting=True)
        return True

    def close(self) -> None:
        for source in self.sources.values():
            source.close()
        self.sources = {}
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self._waker.close()
        self._lock.release()

    def __enter__(self) -> Service:
        if not self.open():
            self.close()
            raise Busy("another authwatch holds the state database")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def attach(self, component: Component) -> None:
        self.components.append(component)
        component.following(self.log_sources)

    def request_stop(self) -> None:
        """Stop soon (safe from a signal handler): positions are saved, and a
        login held for its session line is let out first."""
        self._stop = True
        self._waker.wake()

    def request_reload(self) -> None:
        """Read the configuration again soon (safe from a signal handler)."""
        self._reload = True
        self._waker.wake()

    # -- the two modes -------------------------------------------------------------

    def run(self) -> None:
        """Follow until request_stop()."""
        assert self.pipeline is not None
        self._watcher = DirWatcher(self._waker)
        self._watch()
        for component in self.components:
            component.start()
        try:
            while True:
                idle = not self.pipeline.holding()
                if self._stop and (idle or self._store_notice.current):
                    break
                if self._reload and idle:
                    self._reload_config()
                self._guarded_cycle()
                self._waker.wait(self._timeout())
            if self._finish():
                log.info("stopped; positions saved")
        finally:
            for component in self.components:
                component.stop(STOP_TIMEOUT)

    def scan(self) -> int:
        """Read everything new once, let every login out, and return how many
        alerts were queued. Raises StoreError if the store cannot be written
        (nothing is lost: the positions did not move). Digests and summaries
        the rules hold go out when they are due by the wall clock, as in the
        service: a scan every minute does not send them every minute."""
        assert self.pipeline is not None
        queued = self.pipeline.queued
        self._cycle()
        if self.pipeline.holding():
            # a login at the very end may have its session line written in a moment
            self._waker.wait(self.settings.correlate_ms / 1000)
            self._cycle()
        self.pipeline.drain()
        self._say_enricher_warnings()
        return self.pipeline.queued - queued

    # -- a cycle -----------------------------------------------------------------------

    def _cycle(self) -> None:
        """Read what is new in every source and let out what is due. Raises
        StoreError (everything unwritten stays in the pipeline)."""
        pipeline = self.pipeline
        assert pipeline is not None
        if pipeline.unwritten:
            pipeline.flush()
        if self._watcher is None or self._watcher.changed or time.monotonic() >= self._next_refresh:
            if self._watcher is not None:
                self._watcher.changed = False
            self._refresh_sources(starting=False)
        for source in list(self.sources.values()):
            for batch in source.poll():
                if batch.earlier:
                    pipeline.learn(batch.earlier, batch.journal)
                pipeline.feed(batch.events, _now(), batch.position, batch.journal)
                pipeline.tick(_now())  # a long backlog does not pile up behind a hold
                if self._stop and not self.scanning:
                    break
        pipeline.tick(_now())
        if self._fresh:
            pipeline.flush()
            self._fresh = False

    def _guarded_cycle(self) -> None:
        if self._store_notice.current and time.monotonic() < self._retry_at:
            return
        assert self.pipeline is not None
        before = self.pipeline.queued
        try:
            self._cycle()
        except StoreError as e:
            self._retry_pause = min(RETRY_MAX, max(1.0, self._retry_pause * 2))
            self._retry_at = time.monotonic() + self._retry_pause
            self._store_notice.report(
                f"{e}; reading is paused and nothing is skipped: the alerts and positions not written wait "
                "in memory, and writing is retried", logging.ERROR)
            return
        self._retry_pause = 0.0
        self._store_notice.clear("state store: writing works again; reading goes on")
        self._say_enricher_warnings()
        if self.pipeline.queued != before:
            for component in self.components:
                component.wake()

    def _timeout(self) -> float:
        assert self.pipeline is not None
        timeout = self.settings.poll_interval
        deadline = self.pipeline.next_deadline()
        if deadline is not None:
            timeout = min(timeout, (deadline - _now()).total_seconds())
        if self._store_notice.current:
            timeout = min(timeout, self._retry_at - time.monotonic())
        return max(0.0, timeout)

    def _finish(self) -> bool:
        """Let everything out and save every position; False if the store
        could not be written."""
        assert self.pipeline is not None
        try:
            self.pipeline.drain()
        except StoreError as e:
            log.error("%s; what was not written will be read again at the next start", e)
            return False
        return True

    @staticmethod
    def _queued(alert: Alert) -> None:
        if alert.targets:
            log.info("alert queued: %s", summary(alert.event))
        else:
            log.info("alert kept (no target configured): %s", summary(alert.event))

    # -- sources -------------------------------------------------------------------------

    def _refresh_sources(self, starting: bool) -> None:
        """Follow what the `sources:` setting names now. `starting`: files
        never followed begin at their end (unless --from-start); files that
        appear later are read from their start."""
        assert self.store is not None
        resolved = configured.resolve(self.settings.sources, None if starting else self._auto_journal)
        if resolved.auto_journal and not self._auto_journal:
            if nothing := configured.auto_finds_nothing():
                log.warning("%s", nothing)
            else:
                log.info("sources: auto: neither %s exists; reading the systemd journal", " nor ".join(configured.AUTO))
        self._auto_journal = resolved.auto_journal
        if resolved.problems:
            self._sources_notice.report("; ".join(resolved.problems))
        else:
            self._sources_notice.clear()
        wanted = {w.path: w for w in resolved.files}
        journals = {j.key: j for j in resolved.journals}
        for key in list(self.sources):
            if key not in wanted and key not in journals:
                self.sources.pop(key).close()
                log.info("%s: no longer followed", key)
        for key, j in journals.items():  # first: a journal's backlog is read before the files' (twins.py)
            if key not in self.sources:
                self.sources[key] = JournalSource(
                    key, j.directory, self.store.position(key), self.settings.tz or timezone.utc,
                    start_at_end=starting and not self.from_start, follow=not self.scanning, wake=self._waker.wake,
                )
                self._fresh = True
        assert self.pipeline is not None
        self.pipeline.pair_reports(bool(journals) and any(w.kind == configured.LOG for w in wanted.values()))
        for path, w in wanted.items():
            if path not in self.sources:
                self.sources[path] = self._source(w, starting and not self.from_start)
                self._fresh = True
        spools = [s for s in self.sources.values() if isinstance(s, SpoolSource)]
        self.pipeline.pair_hook([s.host for s in spools], logs=len(spools) < len(self.sources), journal=bool(journals))
        logs = frozenset(journals) | {path for path, w in wanted.items() if w.kind == configured.LOG}
        if logs != self.log_sources:
            self.log_sources = logs
            for component in self.components:
                component.following(logs)
        self._next_refresh = time.monotonic() + self.settings.poll_interval
        self._watch()

    def _source(self, w: configured.Wanted, start_at_end: bool) -> Source:
        assert self.store is not None
        store, tz = self.store, self.settings.tz or timezone.utc
        if w.kind == configured.HOOK:
            return SpoolSource(w.path, store.position(w.path), tz, start_at_end=start_at_end,
                               acknowledged=lambda: store.position(w.path))
        parser = profile_parser if w.kind == configured.PROFILE else syslog_parser
        return FileSource(w.path, store.position(w.path), tz, start_at_end=start_at_end,
                          quiet_if_missing=w.quiet_if_missing, parser=parser)

    def _watch(self) -> None:
        if self._watcher is None:
            return
        dirs = configured.watched_dirs(self.settings.sources)
        for source in self.sources.values():
            dirs |= source.watched_dirs()
        self._watcher.watch(dirs, self.sources)

    # -- configuration ---------------------------------------------------------------------

    def _make_pipeline(self) -> Pipeline:
        assert self.store is not None
        self.enricher = Enricher(self.settings, self.store)
        missing = missing_geoip(self.settings)
        if missing:  # said once by the service; cron would mail it every minute: `authwatch check` says it too
            log.log(logging.INFO if self.scanning else logging.WARNING, "%s", missing)
        return Pipeline(self.store, targets=tuple(self.settings.targets),
                        hold=timedelta(milliseconds=self.settings.correlate_ms), enrichers=[self.enricher],
                        rules=Engine(self.settings, self.store), report_all=False, on_queued=self._queued)

    def _say_enricher_warnings(self) -> None:
        for warning in self.enricher.take_warnings():
            log.warning("%s", warning)

    def _reload_config(self) -> None:
        self._reload = False
        try:
            new = self._load(self.config_file)
        except UserError as e:
            for line in str(e).splitlines():
                log.error("configuration not reloaded: %s", line)
            log.error("keeping the configuration in use")
            return
        for warning in new.warnings:
            log.warning("%s", warning)
        why = config.insecure(new)
        if why and not self.allow_insecure:
            log.error("configuration not reloaded: %s", why)
            log.error("keeping the configuration in use")
            return
        old = self.settings
        if new.state != old.state:
            log.warning("state: a new state database is used from the next start; still using %s", old.state)
            new = replace(new, state=old.state)
        if self.components and (new.targets != old.targets or new.delivery != old.delivery):
            log.warning("targets, delivery: changes take effect at the next start (systemctl restart authwatch)")
        assert self.pipeline is not None and self.store is not None
        try:
            self.pipeline.flush()  # what the old enricher and rules learnt
        except StoreError as e:
            log.error("configuration not reloaded: %s", e)
            self._reload = True  # again once the store can be written
            return
        self.settings = new
        self.enricher = Enricher(new, self.store)
        self.pipeline.reconfigure(targets=tuple(new.targets), hold=timedelta(milliseconds=new.correlate_ms),
                                  enrichers=[self.enricher], rules=Engine(new, self.store))
        for source in self.sources.values():
            source.retune(new.tz or timezone.utc)
        self._refresh_sources(starting=True)
        log.info("configuration reloaded from %s", new.file or "built-in defaults")


def _now() -> datetime:
    return datetime.now(timezone.utc)
