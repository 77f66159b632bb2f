"""Delivery: the outbox, delivered beside reading.

The reader (replay, `run`, `scan`) only writes alerts to the outbox
(`Store.enqueue`); this component delivers them, in its own threads and with
its own SQLite connections, so a slow or dead target never delays reading or
the other targets.

    delivery = Delivery(settings, store_path)   # ConfigError if a target URL is unusable
    delivery.start()          # one daemon thread per target, and one for health checks
    delivery.wake()           # after enqueue: look now (otherwise due times and a 60 s poll)
    delivery.following(keys)  # the log sources followed now (the service says so): checked for silence
    delivery.stop(timeout)    # clean stop; a call still in flight after `timeout` is abandoned
    report = delivery.run_once(deadline)   # cron (`scan`), `replay --notify`: deliver what is due
    report.undelivered        # alerts still waiting; report.dead: given up in this run
    report.ok                 # neither: `scan` and `replay --notify` exit 1 otherwise

Per target, and across restarts (everything lives in the state store):

* **At least once, in order.** Alerts go out oldest first; one is marked sent
  only after the target accepted it, so the only duplicate possible is a
  resend after a crash between acceptance and that mark. The alert id is the
  e-mail Message-ID and the webhook Idempotency-Key.
* **Retries** after a failure wait `retry_first`, doubling up to `retry_max`,
  each with jitter (half to all of the step), counted per target, so a target
  that is down is tried once per step, not once per alert.
* **Set aside.** When the oldest alert has failed `set_aside_after` times, the
  next one is tried: if it gets through, the oldest alone is the problem and is
  set aside (state `failed`, retried on its own schedule) instead of blocking
  the rest; if not, the target is down and order is kept.
* **Dead** after `dead_after` undelivered; `authwatch outbox` shows them and
  `--retry ID` queues them again.
* **Rate limit**: at most `rate_limit` messages a minute (critical alerts and
  notices always pass); the excess is held and sent as one digest when the
  minute ends (at the end of `run_once`).
* **Health**: a target failing for `target_failing_after` is reported to the
  other targets (and its recovery too); heartbeat and silent sources: see
  `health`.

A worker thread is a daemon: a network call that outlives `stop(timeout)` is
left behind without holding the process open (each call is bounded by the
target's timeout anyway), and its alert stays pending, to be sent again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from authwatch.alert import Alert
from authwatch.config import Settings
from authwatch.deliver import health
from authwatch.deliver.message import Message, render, render_digest
from authwatch.deliver.rdns import ReverseDns
from authwatch.deliver.targets import DeliveryError, Target, build
from authwatch.store import Outgoing, Store, StoreError, TargetState

log = logging.getLogger(__name__)

WINDOW = 60.0  # the rate limit counts messages a minute
IDLE_POLL = 60.0  # longest sleep of an idle worker
HEALTH_EVERY = 30.0  # seconds between health checks
PRUNE_EVERY = 3600.0  # seconds between forgetting old alerts (delivery.keep)
HOUSEKEEPING_EVERY = 60.0  # seconds between expiry checks of one target
ERROR_PAUSE = 5.0  # after the state store failed


class Report(NamedTuple):
    sent: int  # messages delivered (alerts, digests, notices)
    failures: int  # attempts that failed
    undelivered: int  # alerts still waiting for some target when it returned
    dead: int  # deliveries marked dead in this run (dead_after, or their target no longer configured)
    errors: Mapping[str, str]  # target -> its last error in this run

    @property
    def ok(self) -> bool:
        """Everything got through: nothing waits, and nothing was given up."""
        return self.undelivered == 0 and self.dead == 0


class Delivery:
    def __init__(self, settings: Settings, store_path: str, *, targets: Mapping[str, Target] | None = None):
        """`targets`: built from `settings` unless given (tests)."""
        self.settings = settings
        self.store_path = store_path
        self.targets = dict(targets) if targets is not None else build(settings)
        d = settings.delivery
        self.reverse_dns = ReverseDns(d.reverse_dns_timeout) if d.reverse_dns else None
        self._stopping = threading.Event()
        self._woken: list[threading.Event] = []
        self._threads: list[threading.Thread] = []
        self._pruned_at = 0.0
        self._sources: frozenset[str] = frozenset()

    # -- the service ----------------------------------------------------------

    def start(self) -> None:
        """Start delivering in the background; returns at once."""
        if self._threads:
            return
        self._stopping.clear()
        # Create (or migrate) the store here, once, before the workers each
        # open it: concurrent first opens of a new database race for its
        # schema and WAL switch.
        Store(self.store_path).close()
        for target in self.targets.values():
            self._threads.append(self._spawn(f"authwatch-deliver-{target.name}", self._serve_target, target))
        self._threads.append(self._spawn("authwatch-health", self._serve_health, None, wakeable=False))

    def wake(self) -> None:
        """New alerts were queued: every worker looks now."""
        for woken in self._woken:
            woken.set()

    def following(self, sources: Iterable[str]) -> None:
        """The log files and journals followed now, as their keys in the
        store's positions (the service tells at the start and at each change):
        `source_silent_after` looks at these only, not at a source no longer
        configured nor at the hook's spool or ~/.ssh_logins."""
        self._sources = frozenset(sources)

    def stop(self, timeout: float) -> None:
        """Stop the workers, waiting at most `timeout` seconds for calls in flight."""
        self._stopping.set()
        self.wake()
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        left = [t.name for t in self._threads if t.is_alive()]
        if left:
            log.warning("stopped waiting for %s (still in a network call; its alert stays queued)", ", ".join(left))
        self._threads, self._woken = [], []

    def _spawn(self, name: str, run: Callable, target: Target | None, wakeable: bool = True) -> threading.Thread:
        """Start `run(target, event)` in a daemon thread; `event` is set by
        wake() (if `wakeable`) and by stop()."""
        woken = threading.Event() if wakeable else self._stopping
        if wakeable:
            self._woken.append(woken)
        thread = threading.Thread(target=run, args=(target, woken), name=name, daemon=True)
        thread.start()
        return thread

    def _serve_target(self, target: Target, woken: threading.Event) -> None:
        def loop(store: Store) -> None:
            courier = self._courier(target, store)
            while not self._stopping.is_set():
                woken.clear()
                next_at = courier.work()
                pause = IDLE_POLL if next_at is None else next_at - time.time()
                woken.wait(min(max(pause, 0.0), IDLE_POLL))

        self._keep_serving(loop, woken)

    def _serve_health(self, _: None, woken: threading.Event) -> None:
        def loop(store: Store) -> None:
            while not self._stopping.is_set():
                self._health(store, time.time())
                woken.wait(HEALTH_EVERY)  # the stop event: health checks run on their own clock

        self._keep_serving(loop, woken)

    def _keep_serving(self, loop: Callable[[Store], None], woken: threading.Event) -> None:
        """Run `loop` with its own connection; a store error (disk full, a
        lock held too long) pauses it, an unexpected one is logged: a worker
        never dies silently."""
        while not self._stopping.is_set():
            try:
                with self._open() as store:
                    loop(store)
            except StoreError as e:
                log.error("%s; retrying in %g s", e, ERROR_PAUSE)
                woken.wait(ERROR_PAUSE)
            except Exception:
                log.exception("delivery worker failed; restarting it in %g s", ERROR_PAUSE)
                woken.wait(ERROR_PAUSE)

    # -- cron ---------------------------------------------------------------

    def run_once(self, deadline: float, health_checks: bool = True, retry_now: bool = False) -> Report:
        """Deliver what is due now (digests of held alerts included), each
        target in its own thread, and return by `deadline` (time.time()).
        For a process that does not start() the workers (cron, replay).
        `retry_now`: a target that failed is tried again now, not after its
        retry pause (`scan --user`: each run, at a login or from the user's
        crontab, is itself the next try)."""
        abandoned = 0
        if health_checks or retry_now:
            with self._open() as store:
                now = time.time()
                if health_checks:
                    abandoned = self._health(store, now)
                for name in self.targets if retry_now else ():
                    state = store.target_state(name)
                    if state.retry_at > now:
                        store.save_target_state(state._replace(retry_at=now))
        results: dict[str, Courier] = {}

        def one(target: Target) -> None:
            with self._open() as store:
                results[target.name] = courier = self._courier(target, store)
                courier.work(until=deadline, flush=True)

        threads = [threading.Thread(target=one, args=(t,), name=f"authwatch-deliver-{t.name}", daemon=True)
                   for t in self.targets.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.time()))
        with self._open() as store:
            undelivered = store.undelivered()
        couriers = list(results.values())
        return Report(
            sent=sum(c.sent for c in couriers),
            failures=sum(c.failures for c in couriers),
            undelivered=undelivered,
            dead=abandoned + sum(c.dead for c in couriers),
            errors={c.target.name: c.last_error for c in couriers if c.last_error},
        )

    # -- shared -------------------------------------------------------------

    def _open(self) -> Store:
        store = Store(self.store_path)
        store.relax_durability()
        return store

    def _courier(self, target: Target, store: Store) -> Courier:
        return Courier(target, store, self.settings, on_queued=self.wake, reverse_dns=self.reverse_dns,
                       stopping=self._stopping.is_set)

    def _health(self, store: Store, now: float) -> int:
        """Health checks and housekeeping; returns how many deliveries were
        marked dead because their target is no longer configured."""
        abandoned = store.abandon_unknown_targets(self.settings.targets, now)
        if abandoned:
            log.error("%d alerts waited for targets that are no longer configured; marked dead "
                      "(authwatch outbox shows them)", abandoned)
        queued = [health.check_heartbeat(store, self.settings, now)]
        queued += health.check_silent_sources(store, self.settings, now, self._sources)
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            store.prune(now - self.settings.delivery.keep)
        if any(queued):
            self.wake()
        return abandoned


class Courier:
    """Delivers one target's share of the outbox, through one connection;
    used by one thread at a time. `clock` and `rng` are for tests."""

    def __init__(self, target: Target, store: Store, settings: Settings, *,
                 on_queued: Callable[[], None] = lambda: None,
                 reverse_dns: Callable[[str], str | None] | None = None,
                 stopping: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random):
        self.target = target
        self.store = store
        self.settings = settings
        self.policy = settings.delivery
        self.on_queued = on_queued
        self.reverse_dns = reverse_dns
        self.stopping = stopping
        self.clock = clock
        self.rng = rng
        self.sent = self.failures = self.dead = 0
        self.last_error: str | None = None
        self._housekeeping_at = 0.0

    def work(self, until: float | None = None, flush: bool = False) -> float | None:
        """Send everything due now (stopping at `until`); returns when
        something falls due next (None: nothing is waiting). `flush`: send
        the digest of held alerts now rather than when the minute ends."""
        while not self.stopping():
            now = self.clock()
            if until is not None and now >= until:
                return now
            busy, next_at = self._step(now, flush)
            if not busy:
                return next_at
        return None

    def _step(self, now: float, flush: bool) -> tuple[bool, float | None]:
        """Do the next thing due: (did something, when to look again)."""
        name = self.target.name
        state = self.store.target_state(name)
        if now >= self._housekeeping_at:
            self._housekeeping_at = now + HOUSEKEEPING_EVERY
            state = self._housekeeping(state, now)
        if state.retry_at > now:
            return False, min(state.retry_at, self._housekeeping_at)
        held = self.store.held(name)
        window_end = state.window_start + WINDOW
        if held and now >= window_end:
            self._deliver_digest(state, held, now)
            return True, None
        head = self.store.next_pending(name)
        if head is not None:
            if self._over_limit(state, head, now):
                self.store.hold(name, head.alert_id, now)
            else:
                self._deliver_head(state, head, now)
            return True, None
        if held and flush:
            self._deliver_digest(state, held, now)
            return True, None
        aside = self.store.due_set_aside(name, now, limit=1)
        if aside:
            self._retry_set_aside(state, aside[0], now)
            return True, None
        due = [t for t in (self.store.next_set_aside_at(name), window_end if held else None) if t is not None]
        return False, min(due) if due else None

    # -- the three kinds of attempt -------------------------------------------

    def _deliver_head(self, state: TargetState, head: Outgoing, now: float) -> None:
        error = self._send(lambda: self._render(head))
        if error is None:
            self.store.record_attempt(self._succeeded(state, now), [head.alert_id], now, "sent")
            return
        failed = self._failed(state, error, now)
        if head.attempts + 1 >= self.policy.set_aside_after:
            probe = self.store.next_pending(self.target.name, after_seq=head.seq)
            if probe is not None and not self._over_limit(state, probe, now):
                probe_error = self._send(lambda: self._render(probe))
                if probe_error is None:
                    log.warning("target %s: alert %s set aside after %d failed attempts (the next one got "
                                "through): %s", self.target.name, head.alert_id, head.attempts + 1, error)
                    works = self._succeeded(state, now)
                    self.store.record_attempt(works, [head.alert_id], now, "failed", error,
                                              next_attempt=now + self._backoff(head.attempts + 1))
                    self.store.record_attempt(works, [probe.alert_id], now, "sent")
                    return
                self.store.record_attempt(failed, [probe.alert_id], now, "pending", probe_error)
        self.store.record_attempt(failed, [head.alert_id], now, "pending", error)

    def _retry_set_aside(self, state: TargetState, row: Outgoing, now: float) -> None:
        error = self._send(lambda: self._render(row))
        if error is None:
            self.store.record_attempt(self._succeeded(state, now), [row.alert_id], now, "sent")
        else:
            self.store.record_attempt(state, [row.alert_id], now, "failed", error,
                                      next_attempt=now + self._backoff(row.attempts + 1))

    def _deliver_digest(self, state: TargetState, held: list[Outgoing], now: float) -> None:
        error = self._send(lambda: render_digest(held, self.target.rate_limit, self.settings.tz))
        ids = [row.alert_id for row in held]
        if error is None:
            self.store.record_attempt(self._succeeded(state, now), ids, now, "sent")
        else:
            self.store.record_attempt(self._failed(state, error, now), ids, now, "held", error)

    # -- target state ---------------------------------------------------------

    def _send(self, message: Callable[[], Message]) -> str | None:
        """None if the target accepted the message `message()` writes, else
        the error. A message that cannot be written is an error like a
        refused one: the alert waits, is set aside, and the rest go on."""
        try:
            self.target.send(message())
        except DeliveryError as e:
            error = str(e)
        except Exception as e:  # a bug in a plugin must not stop delivery to this target
            log.exception("target %s: unexpected error", self.target.name)
            error = self.target.scrub(f"unexpected {type(e).__name__}: {e}")
        else:
            self.sent += 1
            return None
        self.failures += 1
        self.last_error = error
        log.warning("target %s: not delivered: %s", self.target.name, error)
        return error

    def _succeeded(self, state: TargetState, now: float) -> TargetState:
        if state.told_failing:
            self._tell_others(health.target_recovered(state, self._others(), now, self.settings.tz))
        if now >= state.window_start + WINDOW:
            window_start, window_sent = now, 1
        else:
            window_start, window_sent = state.window_start, state.window_sent + 1
        return state._replace(failures=0, retry_at=0.0, failing_since=None, last_error=None, last_success=now,
                              window_start=window_start, window_sent=window_sent, told_failing=None)

    def _failed(self, state: TargetState, error: str, now: float) -> TargetState:
        failures = state.failures + 1
        return state._replace(failures=failures, retry_at=now + self._backoff(failures),
                              failing_since=state.failing_since or now, last_error=error)

    def _backoff(self, attempts: int) -> float:
        step = min(self.policy.retry_max, self.policy.retry_first * 2 ** min(attempts - 1, 30))
        return step * (0.5 + self.rng() / 2)

    def _over_limit(self, state: TargetState, row: Outgoing, now: float) -> bool:
        limit = self.target.rate_limit
        if not limit or row.severity == "critical" or row.event.get("kind") == health.NOTICE:
            return False
        return now < state.window_start + WINDOW and state.window_sent >= limit

    def _housekeeping(self, state: TargetState, now: float) -> TargetState:
        """Mark old undelivered alerts dead; tell the other targets if this
        one has failed for too long."""
        dead = self.store.expire(self.target.name, now - self.policy.dead_after, now)
        if dead:
            self.dead += dead
            log.error("target %s: %d alerts undelivered for %s are marked dead (see authwatch outbox)",
                      self.target.name, dead, health.duration(self.policy.dead_after))
        after = self.policy.target_failing_after
        if after is not None and state.failing_since and not state.told_failing and now - state.failing_since >= after:
            log.error("target %s has failed for %s: %s", self.target.name,
                      health.duration(now - state.failing_since), state.last_error)
            self._tell_others(health.target_failing(state, self._others(), now, self.settings.tz))
            state = state._replace(told_failing=now)
            self.store.save_target_state(state)
        elif after is not None and state.failing_since and not state.told_failing:
            self._housekeeping_at = min(self._housekeeping_at, state.failing_since + after)
        return state

    def _others(self) -> list[str]:
        return [name for name in self.settings.targets if name != self.target.name]

    def _tell_others(self, alert: Alert) -> None:
        if alert.targets:
            self.store.enqueue([alert])
            self.on_queued()

    def _render(self, row: Outgoing) -> Message:
        return render(row, self.settings.tz, self.reverse_dns)
