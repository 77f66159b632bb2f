"""Health notices: the silent-source check over positions.updated (of the
sources followed now only), the daily heartbeat, and the wording of durations."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from authwatch.config import DeliverySettings, Settings
from authwatch.deliver import health
from authwatch.store import Position, Store


def settings(**delivery):
    return Settings(file=None, state="", tz=ZoneInfo("Europe/London"),
                    targets={"mail": {"url": "mailto://x"}, "chat": {"url": "json://x"}},
                    delivery=DeliverySettings(**delivery))


def test_a_silent_source_is_told_once_per_silence(tmp_path):
    with Store(str(tmp_path / "s.db")) as store:
        store.enqueue([], Position("/var/log/auth.log", 1, 2, 3))
        store.enqueue([], Position("/var/log/secure", 1, 3, 3))
        (_, updated), _ = store.positions_updated()
        s = settings(source_silent_after=3600)
        followed = {"/var/log/auth.log", "/var/log/secure"}

        def check(s, now):
            return health.check_silent_sources(store, s, now, followed)

        assert check(s, updated + 3600) == []  # not longer than configured
        (notice,) = check(s, updated + 3601 + 7200)[:1]
        assert notice.event.detail == "no new lines in /var/log/auth.log for 3 h"
        assert notice.targets == ("mail", "chat") and notice.severity == "high" and notice.event.kind == "notice"
        assert store.alert_count() == 2  # both sources are silent
        assert check(s, updated + 99999) == []  # told already
        store.enqueue([], Position("/var/log/auth.log", 1, 2, 99))  # it spoke again ...
        (_, again), _ = store.positions_updated()
        assert [a.event.detail for a in check(s, again + 3630)] == [
            "no new lines in /var/log/auth.log for 1 h"]  # ... and fell silent again: told again
        assert check(settings(), again + 1e9) == []  # off by default


def test_only_the_sources_followed_now_are_checked(tmp_path):
    """A source removed from `sources:` keeps its row in positions: it is not
    reported as silent (nor are the hook's spool and ~/.ssh_logins, which the
    service leaves out of what it follows for this)."""
    with Store(str(tmp_path / "s.db")) as store:
        for path in ("/logs/a.log", "/logs/b.log", "/var/spool/authwatch/logins"):
            store.enqueue([], Position(path, 1, 2, 3))
        (_, updated), *_ = store.positions_updated()
        s = settings(source_silent_after=60)
        told = health.check_silent_sources(store, s, updated + 100, {"/logs/a.log", "journal"})
        assert [a.event.detail for a in told] == ["no new lines in /logs/a.log for 1 min"]
        assert health.check_silent_sources(store, s, updated + 100, set()) == []


def test_silent_sources_lists_what_is_past_the_limit(tmp_path):
    with Store(str(tmp_path / "s.db")) as store:
        store.enqueue([], Position("/a"))
        (_, updated), = store.positions_updated()
        assert health.silent_sources(store, 60, updated + 30, {"/a"}) == []
        assert health.silent_sources(store, 60, updated + 61, {"/a"}) == [("/a", updated)]
        assert health.silent_sources(store, 60, updated + 61, {"/b"}) == []


def test_the_heartbeat_comes_once_a_day_at_its_local_time(tmp_path):
    with Store(str(tmp_path / "s.db")) as store:
        s = settings(heartbeat="08:30")
        day = datetime(2026, 7, 1, 8, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
        assert health.check_heartbeat(store, s, day) is None  # the first check starts the clock
        assert health.check_heartbeat(store, s, day + 29 * 60) is None  # 08:29
        beat = health.check_heartbeat(store, s, day + 30 * 60)  # 08:30 local (07:30 UTC in summer)
        assert beat is not None and beat.rule == "heartbeat" and beat.targets == ("mail", "chat")
        assert beat.event.detail.endswith("is watching") and beat.reasons[0].startswith("Since 2026-07-01 08:00 BST")
        assert health.check_heartbeat(store, s, day + 60 * 60) is None
        assert health.check_heartbeat(store, s, day + 86400 + 31 * 60) is not None  # next day
        assert health.check_heartbeat(store, settings(), day + 9e6) is None  # off by default


def test_last_occurrence_and_duration_words():
    london = ZoneInfo("Europe/London")
    now = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc).timestamp()  # 02:00 BST, just after the change
    assert datetime.fromtimestamp(health.last_occurrence("08:30", now, london), london).isoformat() == \
        "2026-03-28T08:30:00+00:00"
    assert [health.duration(s) for s in (45, 600, 3600, 7500, 86400, 3 * 86400 + 4 * 3600)] == [
        "45 s", "10 min", "1 h", "2 h 5 min", "1 day", "3 days 4 h"]
