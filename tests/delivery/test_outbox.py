"""The outbox delivered: order, retries with backoff, setting aside, dead
alerts, rate limit and digest, failing-target notices, restarts. Against a
real HTTP receiver (Apprise's json:// plugin), with the clock in the test's
hands."""

import os
import socket
import subprocess
import sys
import textwrap
import time
from urllib.parse import quote

import pytest

from authwatch.deliver.delivery import WINDOW, Courier, Delivery
from authwatch.deliver.targets import build
from authwatch.store import Store
from tests.conftest import REPO
from tests.delivery.conftest import TOKEN, encodings, login, queue, settings


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def courier(state, s, name="t", clock=None, rng=lambda: 1.0):
    store = Store(state)
    return Courier(build(s)[name], store, s, clock=clock or Clock(), rng=rng)


def ids(requests):
    return [r.headers.get("Idempotency-Key") for r in requests]


def states(state, target="t"):
    with Store(state) as s:
        return {r.alert_id: r.state for r in s.outbox(("pending", "held", "failed", "dead", "sent"))
                if r.target == target}


def hook(receiver, path="hook"):
    return f"json://127.0.0.1:{receiver.port}/{path}"


def test_every_alert_goes_out_once_in_order(state, receiver):
    alerts = queue(state, [login(port=p) for p in range(10)])
    c = courier(state, settings(state, {"t": hook(receiver)}, rate_limit=0))
    assert c.work() is None
    assert ids(receiver.requests) == [a.id for a in alerts]
    assert set(states(state).values()) == {"sent"}
    assert c.work() is None and len(receiver.requests) == 10  # nothing twice


def test_a_down_target_is_retried_with_growing_backoff_and_jitter(state, receiver):
    queue(state, [login(port=p) for p in range(3)])
    receiver.status = 500
    clock = Clock()
    s = settings(state, {"t": hook(receiver)}, rate_limit=0, retry_first=10, retry_max=35, set_aside_after=9)
    jitter = iter([1.0, 0.0, 1.0, 1.0, 1.0])
    c = courier(state, s, clock=clock, rng=lambda: next(jitter))
    start = clock.now
    assert c.work() == start + 10  # full step (jitter 1.0): one attempt, not one per alert
    with Store(state) as store:
        t = store.target_state("t")
        assert t.failures == 1 and t.failing_since == start and "error=500" in t.last_error
    clock.now += 9
    assert c.work() == start + 10 and c.failures == 1  # not due yet: no attempt
    clock.now = start + 10
    assert c.work() == start + 10 + 10  # second step 20 s, jitter 0.0: half of it
    clock.now += 10
    assert c.work() == clock.now + 35  # capped at retry_max
    assert c.failures == 3
    receiver.status = 200
    clock.now += 35
    assert c.work() is None and len(receiver.requests) == 3


def test_backoff_survives_a_restart(state, receiver):
    queue(state, [login()])
    receiver.status = 500
    clock = Clock()
    s = settings(state, {"t": hook(receiver)}, rate_limit=0, retry_first=60)
    retry_at = courier(state, s, clock=clock).work()
    receiver.status = 200
    again = courier(state, s, clock=clock)  # a new process: new connection, same store
    assert again.work() == retry_at and not receiver.requests
    clock.now = retry_at
    assert again.work() is None and len(receiver.requests) == 1


def test_one_alert_that_keeps_failing_is_set_aside_so_the_rest_go(state, receiver):
    alerts = queue(state, [login(port=p) for p in range(4)])
    poison = alerts[0].id
    receiver.fail_when = lambda request: request.headers.get("Idempotency-Key") == poison
    clock = Clock()
    c = courier(state, settings(state, {"t": hook(receiver)}, rate_limit=0, retry_first=1, set_aside_after=3), clock=clock)
    for _ in range(2):  # two failures: the others wait (order)
        clock.now = c.work()
    assert receiver.requests == []
    clock.now = c.work()  # third failure: the next one is tried, gets through, so the first is set aside
    assert ids(receiver.requests) == [a.id for a in alerts[1:]]
    assert states(state)[poison] == "failed"
    with Store(state) as store:
        assert store.target_state("t").failures == 0  # the target itself works
        assert store.due_set_aside("t", clock.now + 3600)[0].attempts == 3
    receiver.fail_when = lambda request: False
    clock.now += 3600
    assert c.work() is None
    assert ids(receiver.requests)[-1] == poison and states(state)[poison] == "sent"


def test_when_the_target_is_down_order_is_kept(state, receiver):
    alerts = queue(state, [login(port=p) for p in range(5)])
    receiver.status = 500
    clock = Clock()
    c = courier(state, settings(state, {"t": hook(receiver)}, rate_limit=0, retry_first=1, set_aside_after=2), clock=clock)
    for _ in range(6):
        c.work()
        clock.now = c.store.target_state("t").retry_at
    assert set(states(state).values()) == {"pending"}
    assert c.failures == 1 + 5 * 2  # from the second failure on, each round also tries the next alert
    receiver.status = 200
    assert c.work() is None
    assert ids(receiver.requests) == [a.id for a in alerts]


def test_old_undelivered_alerts_are_marked_dead_and_can_be_retried(state, receiver):
    alerts = queue(state, [login()])
    receiver.status = 500
    clock = Clock()
    s = settings(state, {"t": hook(receiver)}, rate_limit=0, retry_first=30, dead_after=120)
    c = courier(state, s, clock=clock)
    c.work()
    clock.now += 121
    c._housekeeping_at = 0  # housekeeping runs at most once a minute
    c.work()
    assert states(state) == {alerts[0].id: "dead"} and c.dead == 1
    receiver.status = 200
    with Store(state) as store:
        assert store.retry(alerts[0].id, clock.now) == ["t"]
        assert store.target_state("t").retry_at == 0  # retried at once, not after the backoff
        store.db.execute("UPDATE deliveries SET queued = ?", (clock.now,))
    assert c.work() is None and states(state) == {alerts[0].id: "sent"}


def test_rate_limit_holds_the_excess_for_one_digest_when_the_minute_ends(state, receiver):
    alerts = queue(state, [login(port=p) for p in range(10)])
    clock = Clock()
    c = courier(state, settings(state, {"t": hook(receiver)}, rate_limit=3), clock=clock)
    start = clock.now
    assert c.work() == start + WINDOW
    assert ids(receiver.requests) == [a.id for a in alerts[:3]]
    assert sum(1 for v in states(state).values() if v == "held") == 7
    queue(state, [login(port=99, severity="critical")])
    c.work()
    assert receiver.requests[-1].json()["title"].startswith("[authwatch] CRITICAL")  # critical passes
    clock.now = start + WINDOW
    assert c.work() is None
    digest = receiver.requests[-1].json()
    assert digest["title"] == "[authwatch] 7 more alerts (over 3 a minute)"
    assert digest["message"].count("\n- ") == 7 and len(receiver.requests) == 5
    assert set(states(state).values()) == {"sent"}


def test_a_target_failing_too_long_is_reported_to_the_others_and_its_recovery_too(state, tmp_path):
    from tests.delivery.servers import HttpReceiver

    down, up = HttpReceiver(), HttpReceiver()
    try:
        down.status = 500
        s = settings(state, {"t": hook(down), "other": hook(up)}, rate_limit=0, retry_first=30,
                     target_failing_after=600)
        queue(state, [login(targets=("t", "other"))])
        clock = Clock()
        failing, other = courier(state, s, "t", clock), courier(state, s, "other", clock)
        start = clock.now
        failing.work()
        other.work()
        assert len(up.requests) == 1
        clock.now = start + 601
        failing._housekeeping_at = 0
        failing.work()
        other.work()
        notice = up.requests[-1].json()
        assert notice["title"] == "[authwatch] target t has failed for 10 min"
        assert "Last error: Failed to send JSON POST notification" in notice["message"]
        clock.now += 3600
        failing._housekeeping_at = 0
        failing.work()
        assert len(up.wait_for(2)) == 2  # told once, not again
        down.status = 200
        clock.now += 3600
        failing.work()
        other.work()
        assert up.requests[-1].json()["title"] == "[authwatch] target t works again"
        assert len(down.requests) == 1  # the waiting alert
    finally:
        down.close()
        up.close()


def test_run_once_delivers_what_is_due_flushes_the_digest_and_reports(state, receiver):
    queue(state, [login(port=p) for p in range(5)])
    s = settings(state, {"t": hook(receiver), "dead": "json://127.0.0.1:9/x"}, rate_limit=2, retry_first=60)
    queue(state, [login(port=100 + p, targets=("dead",)) for p in range(2)])
    report = Delivery(s, state).run_once(time.time() + 20)
    assert [r.json()["title"] for r in receiver.requests][-1] == "[authwatch] 3 more alerts (over 2 a minute)"
    assert report.sent == 3 and report.failures == 1 and report.undelivered == 2 and not report.ok
    assert "Connection refused" in report.errors["dead"]


@pytest.mark.parametrize("slow", [1.5])
def test_a_slow_target_delays_neither_the_others_nor_the_writer(state, slow):
    from tests.delivery.servers import HttpReceiver

    sluggish, quick = HttpReceiver(), HttpReceiver()
    sluggish.delay = slow
    s = settings(state, {"slow": hook(sluggish), "quick": hook(quick)}, rate_limit=0, timeout=10)
    delivery = Delivery(s, state)
    delivery.start()
    try:
        queue(state, [login(port=1, targets=("slow", "quick"))])
        delivery.wake()
        started = time.time()
        queue(state, [login(port=2, targets=("slow", "quick"))])  # the writer is never blocked
        delivery.wake()
        assert time.time() - started < 0.5
        assert len(quick.wait_for(2, timeout=slow)) == 2
        assert sluggish.requests == []  # both went to the quick target while the slow one still had its first
        assert len(sluggish.wait_for(2, timeout=3 * slow)) == 2
    finally:
        delivery.stop(1)
        sluggish.close()
        quick.close()


STUCK = textwrap.dedent("""
    import sys, time
    from authwatch.deliver.delivery import Delivery
    from tests.delivery.conftest import login, queue, settings
    state, port = sys.argv[1:]
    queue(state, [login()])
    d = Delivery(settings(state, {"t": f"json://127.0.0.1:{port}/x"}, timeout=60), state)
    d.start()
    time.sleep(0.5)  # the request is sent; the server never answers
    d.stop(0.5)
    print("stopped", flush=True)
""")


def test_an_abandoned_call_does_not_hold_the_process_open(state):
    with socket.socket() as mute:  # accepts connections, never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", STUCK, state, str(mute.getsockname()[1])], cwd=REPO,
                              env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True, timeout=30)
        assert done.stdout == b"stopped\n" and done.returncode == 0
        assert time.monotonic() - started < 10  # not the 60 s timeout
        assert b"stopped waiting for authwatch-deliver-t" in done.stderr
    with Store(state) as store:
        assert store.undelivered() == 1  # still queued: sent again on the next start


def test_wake_reaches_the_workers_not_the_health_checks(state, receiver, monkeypatch):
    checks = []
    monkeypatch.setattr(Delivery, "_health", lambda self, store, now: checks.append(now))
    delivery = Delivery(settings(state, {"t": hook(receiver)}), state)
    delivery.start()
    try:
        end = time.monotonic() + 10
        while not checks and time.monotonic() < end:  # the first check, at start
            time.sleep(0.01)
        for port in range(5):
            queue(state, [login(port=port)])
            delivery.wake()
        assert len(receiver.wait_for(5)) == 5
        time.sleep(0.2)
    finally:
        delivery.stop(1)
    assert len(checks) == 1  # at start; the next one is due HEALTH_EVERY later


def test_alerts_for_a_target_removed_from_the_config_are_marked_dead(state, receiver):
    queue(state, [login(targets=("t", "gone"))])
    report = Delivery(settings(state, {"t": hook(receiver)}), state).run_once(time.time() + 10)
    assert (report.sent, report.undelivered, report.dead, report.ok) == (1, 0, 1, False)  # given up: not ok
    assert Delivery(settings(state, {"t": hook(receiver)}), state).run_once(time.time() + 10).ok  # once
    with Store(state) as store:
        (row,) = store.outbox()
        assert (row.target, row.state, row.last_error) == ("gone", "dead", "the target is no longer configured")


def test_an_alert_whose_message_cannot_be_written_is_set_aside_and_the_rest_go(state, receiver, monkeypatch):
    """A message that fails to render (a bug, or a value at the edge of the
    calendar) must fail like a refused delivery, not stop the worker."""
    from authwatch.deliver import delivery

    alerts = queue(state, [login(port=p) for p in range(3)])
    real = delivery.render
    monkeypatch.setattr(delivery, "render", lambda row, *a: (_ for _ in ()).throw(OverflowError("date value out of "
                        "range")) if row.alert_id == alerts[0].id else real(row, *a))
    clock = Clock()
    c = courier(state, settings(state, {"t": hook(receiver)}, rate_limit=0, retry_first=1, set_aside_after=3),
                clock=clock)
    for _ in range(3):
        clock.now = c.work() or clock.now
    assert ids(receiver.requests) == [a.id for a in alerts[1:]]
    assert states(state)[alerts[0].id] == "failed"


def test_a_time_at_the_edge_of_the_calendar_is_shown_as_logged():
    from datetime import timedelta, timezone as tz

    from authwatch.deliver.message import _when

    zone = tz(timedelta(hours=14))
    assert _when("9999-12-31T23:59:59.999999-23:59", zone) == "9999-12-31T23:59:59.999999-23:59"


@pytest.mark.parametrize("url", [f"jsons://127.0.0.1:1/hook/{quote(TOKEN, safe='')}", f"jsons://127.0.0.1:1/x?-key={TOKEN}",
                                 f"jsons://127.0.0.1:1/x?-key={quote(TOKEN, safe='')}"])
def test_a_target_scrubs_its_token_in_every_encoding(state, url):
    target = build(settings(state, {"t": url}))["t"]
    for form in encodings(TOKEN):
        assert target.scrub(f"failed at /{form}?x") == "failed at /***?x", form
