"""History: novelty, learning, expiry, scope, trust, travel, failures, and
how it is saved (with the alerts and the position, in one transaction)."""

from datetime import timedelta

import pytest

from authwatch import store as store_module
from authwatch.config import HistorySettings
from authwatch.enrich.geoip import ASN, LOCATION
from authwatch.enrich.history import History
from authwatch.enrich.trust import Trusts, parse_target
from authwatch.event import Event, Geo
from authwatch.pipeline import Pipeline
from authwatch.store import Position, Store, StoreError, TrustRow
from tests.loglines import at

LONDON = Geo("public", "GB", "United Kingdom", "London", 51.5142, -0.0931, 10, 20712, "Andrews & Arnold Ltd")
LONDON_2 = LONDON  # another address in the same place and network
PARIS = Geo("public", "FR", "France", "Paris", 48.8566, 2.3522, 20, 12322, "Free SAS")
SAO_PAULO = Geo("public", "BR", "Brazil", "São Paulo", -23.5475, -46.6361, 50, 28573, "Claro NXT")
PRIVATE = Geo("private")
KEY_A = "SHA256:" + "A" * 43
KEY_B = "SHA256:" + "B" * 43
BOTH = LOCATION | ASN  # looked up in a City and an ASN database
NO_LEARNING = HistorySettings(learning_logins=0, learning_period=timedelta(0))


@pytest.fixture
def store(tmp_path):
    with Store(str(tmp_path / "state.db")) as s:
        yield s


def login(t, user="alice", ip="81.2.69.160", key=None, host="web1", port=50000):
    return Event("login", t, host, user, ip, port, "publickey" if key else "password", (), key)


def failure(t, user="alice", ip="6.6.6.6", invalid=False, host="web1"):
    return Event("failure", t, host, user, ip, 40000, "password", invalid_user=invalid)


def save(h, store):
    c = h.changes()
    store.enqueue([], None, [c])
    h.saved(c)


def learned(store, settings=None, **kw):
    """A History where alice has logged in from London with KEY_A for a week."""
    h = History(store, settings or HistorySettings())
    for day in range(8):
        h.login(login(at(days=day), key=KEY_A, **kw), LONDON, BOTH)
    return h


def test_first_login_then_learning_then_nothing_new(store):
    h = History(store, HistorySettings())
    assert h.login(login(at(0)), LONDON, BOTH).novelty == ("first_login", "learning")
    assert h.login(login(at(1)), LONDON, BOTH).novelty == ()
    assert h.login(login(at(2), ip="177.0.0.9"), SAO_PAULO, BOTH).novelty == ("learning",)


def test_after_learning_each_new_thing_is_named(store):
    h = learned(store)
    assert h.login(login(at(days=9), key=KEY_A), LONDON, BOTH).novelty == ()
    assert h.login(login(at(days=9, hours=1), ip="81.2.69.161", key=KEY_A), LONDON_2, BOTH).novelty == ("new_ip",)
    assert h.login(login(at(days=9, hours=2), ip="82.66.1.1", key=KEY_A), PARIS, BOTH).novelty == (
        "new_ip", "new_network", "new_asn", "new_country")
    assert h.login(login(at(days=9, hours=3), key=KEY_B), LONDON, BOTH).novelty == ("new_key",)
    unknown = Geo("public")  # an address the databases do not know
    assert h.login(login(at(days=9, hours=4), ip="2a02:cf40::1"), unknown, BOTH).novelty == ("new_ip", "new_network")


def test_learning_needs_both_the_logins_and_the_days(store):
    h = History(store, HistorySettings(learning_logins=3, learning_period=timedelta(days=2)))
    for i in range(5):  # five logins within an hour: not two days yet
        h.login(login(at(hours=i / 10)), LONDON, BOTH)
    assert h.login(login(at(hours=1), ip="82.66.1.1"), PARIS, BOTH).novelty == ("learning",)
    h2 = History(store, HistorySettings(learning_logins=3, learning_period=timedelta(days=2)))
    h2.login(login(at(0), user="bob"), LONDON, BOTH)
    assert h2.login(login(at(days=3), user="bob", ip="82.66.1.1"), PARIS, BOTH).novelty == ("learning",)  # 2 logins
    h2.login(login(at(days=3, hours=1), user="bob"), LONDON, BOTH)
    assert h2.login(login(at(days=3, hours=2), user="bob", ip="177.0.0.1"), SAO_PAULO, BOTH).novelty == (
        "new_ip", "new_network", "new_asn", "new_country")


def test_without_learning_a_first_login_is_new_in_everything(store):
    h = History(store, NO_LEARNING)
    assert h.login(login(at(0), key=KEY_A), LONDON, BOTH).novelty == (
        "first_login", "new_ip", "new_network", "new_asn", "new_country", "new_key")


def test_asn_and_country_are_new_only_against_a_baseline(store):
    h = History(store, NO_LEARNING)
    h.login(login(at(0)), Geo("public"), 0)  # no GeoIP database then
    assert h.login(login(at(1)), LONDON, BOTH).novelty == ()  # GeoIP added: the same address is not news
    assert h.login(login(at(2), ip="82.66.1.1"), PARIS, BOTH).novelty == ("new_ip", "new_network", "new_asn", "new_country")


def test_a_database_added_later_makes_no_country_new_after_private_logins(store):
    h = History(store, NO_LEARNING)
    h.login(login(at(0), ip="10.0.0.5"), PRIVATE, 0)  # no GeoIP database then
    assert h.login(login(at(1), ip="177.0.3.20"), SAO_PAULO, BOTH).novelty == ("new_ip", "new_network")


def test_logins_from_the_lan_are_a_baseline_when_a_database_was_loaded(store):
    """erin only ever logged in from the LAN: her first login from abroad is a
    new country and a new ASN, not only a new address."""
    h = History(store, NO_LEARNING)
    h.login(login(at(0), user="erin", ip="10.0.0.5"), PRIVATE, BOTH)
    h.login(login(at(1), user="erin", ip="10.0.0.5"), PRIVATE, BOTH)
    assert h.login(login(at(2), user="erin", ip="177.0.3.20"), SAO_PAULO, BOTH).novelty == (
        "new_ip", "new_network", "new_asn", "new_country")
    h.login(login(at(0), user="frank", ip="100.64.1.1"), Geo("cgnat"), BOTH)
    h.login(login(at(1), user="frank", ip="198.51.100.7"), Geo("public"), BOTH)  # not in the database
    save(h, store)  # and the baseline survives a restart
    again = History(store, NO_LEARNING)
    assert again.login(login(at(2), user="frank", ip="177.0.3.20"), SAO_PAULO, BOTH).novelty == (
        "new_ip", "new_network", "new_asn", "new_country")


def test_the_baseline_is_per_database(store):
    h = History(store, NO_LEARNING)
    h.login(login(at(0), ip="10.0.0.5"), PRIVATE, LOCATION)  # a City database, no ASN one yet
    assert h.login(login(at(1), ip="177.0.3.20"), SAO_PAULO, BOTH).novelty == ("new_ip", "new_network", "new_country")


def test_private_addresses_count_as_addresses_only(store):
    h = History(store, NO_LEARNING)
    h.login(login(at(0), ip="10.0.0.5"), PRIVATE, BOTH)
    assert h.login(login(at(1), ip="10.0.0.6"), PRIVATE, BOTH).novelty == ("new_ip",)
    assert h.login(login(at(2), ip="10.0.1.6"), PRIVATE, BOTH).novelty == ("new_ip", "new_network")


def test_a_store_from_before_the_baseline_keeps_it(tmp_path, monkeypatch):
    """A state file written before logins recorded their databases: a user with
    a country (ASN) on record has that baseline after the upgrade."""
    path = str(tmp_path / "state.db")
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:5])
    with Store(path) as old:
        old.db.execute("INSERT INTO history_users VALUES ('web1', 'alice', 0, 0, 1, NULL), ('web1', 'bob', 0, 0, 1, NULL)")
        old.db.executemany("INSERT INTO history VALUES ('web1', ?, ?, ?, 0, 0, 1, NULL, NULL)", [
            ("alice", "ip", "81.2.69.160"), ("alice", "country", "GB"), ("alice", "asn", "20712"),
            ("bob", "ip", "10.0.0.5")])
        old.db.commit()
    monkeypatch.undo()
    with Store(path) as s:
        h = History(s, NO_LEARNING)
        assert h.login(login(at(1), ip="82.66.1.1"), PARIS, BOTH).novelty == (
            "new_ip", "new_network", "new_asn", "new_country")
        assert h.login(login(at(1), user="bob", ip="82.66.1.1"), PARIS, BOTH).novelty == ("new_ip", "new_network")


def test_entries_expire(store):
    h = History(store, HistorySettings(expire=timedelta(days=30), learning_logins=0, learning_period=timedelta(0)))
    h.login(login(at(0)), LONDON, BOTH)
    h.login(login(at(days=10), ip="82.66.1.1"), PARIS, BOTH)
    h.login(login(at(days=20)), LONDON, BOTH)
    assert h.login(login(at(days=45)), LONDON, BOTH).novelty == ()  # last seen 25 days before
    assert h.login(login(at(days=41), ip="82.66.1.1"), PARIS, BOTH).novelty == (  # last seen 31 days before
        "new_ip", "new_network", "new_asn", "new_country")


def test_expired_entries_are_deleted_from_the_store(store):
    h = History(store, HistorySettings(expire=timedelta(days=30)))
    h.login(login(at(0), ip="82.66.1.1"), PARIS, BOTH)
    save(h, store)
    assert [r.value for r in store.history("alice")] == ["82.66.1.1"]
    h.login(login(at(days=40)), LONDON, BOTH)
    save(h, store)
    assert [r.value for r in store.history("alice")] == ["81.2.69.160"]


def test_host_scope_and_fleet_scope(store):
    per_host = History(store, NO_LEARNING)
    per_host.login(login(at(0), host="web1"), LONDON, BOTH)
    assert per_host.login(login(at(1), host="web2"), LONDON, BOTH).novelty[0] == "first_login"
    fleet = History(store, HistorySettings(scope="fleet", learning_logins=0, learning_period=timedelta(0)))
    fleet.login(login(at(0), user="carol", host="web1"), LONDON, BOTH)
    assert fleet.login(login(at(1), user="carol", host="web2"), LONDON, BOTH).novelty == ()
    assert fleet.login(login(at(2), user="carol", host="web3", ip="82.66.1.1"), PARIS, BOTH).novelty[0] == "new_ip"


def test_reading_the_same_logins_twice_counts_them_once(store):
    h = History(store, HistorySettings())
    for _ in range(2):
        for day in range(3):
            h.login(login(at(days=day)), LONDON, BOTH)
    save(h, store)
    (row,) = store.history("alice")
    assert row.count == 3 and row.first_seen == at(0).timestamp() and row.last_seen == at(days=2).timestamp()
    assert row.label == "London, United Kingdom" and row.asn == 20712


def test_history_survives_a_restart_and_the_cache_reloads_from_the_store(store, monkeypatch):
    monkeypatch.setattr("authwatch.enrich.history.MAX_USERS", 4)
    h = learned(store)
    for i in range(10):  # push alice out of the cache
        h.login(login(at(days=8), user=f"u{i}"), LONDON, BOTH)
        save(h, store)
    assert ("web1", "alice") not in h._users
    assert h.login(login(at(days=9), key=KEY_A), LONDON, BOTH).novelty == ()
    save(h, store)
    again = History(store, HistorySettings())
    assert again.login(login(at(days=10), key=KEY_A), LONDON, BOTH).novelty == ()
    assert again.login(login(at(days=10, hours=1), ip="82.66.1.1", key=KEY_A), PARIS, BOTH).novelty == (
        "new_ip", "new_network", "new_asn", "new_country")


def test_unsaved_users_are_never_evicted(store, monkeypatch):
    monkeypatch.setattr("authwatch.enrich.history.MAX_USERS", 4)
    h = History(store, NO_LEARNING)
    for i in range(10):
        h.login(login(at(0), user=f"u{i}"), LONDON, BOTH)
    c = h.changes()
    assert len(c.users) == 10 and len(c.entries) == 40  # nothing lost before the save


# -- trust --------------------------------------------------------------------------


def test_trusted_addresses_networks_and_keys_are_not_new(store):
    h = learned(store)
    store.add_trust("", "alice", *parse_target("82.66.0.0/16"), None)
    store.add_trust("", "alice", *parse_target(KEY_B), None)
    h._trusts = Trusts(store.trusts())
    assert h.login(login(at(days=9), ip="82.66.1.1", key=KEY_B), PARIS, BOTH).novelty == ()
    assert h.login(login(at(days=9, hours=1), ip="177.0.0.1", key=KEY_B), SAO_PAULO, BOTH).novelty == (
        "new_ip", "new_network", "new_asn", "new_country")


def test_trust_ends_and_can_be_for_one_host(store):
    h = learned(store)
    h._trusts = Trusts([
        TrustRow("", "alice", "ip", "82.66.1.1/32", at(days=9, hours=1).timestamp(), 0),
        TrustRow("web2", "alice", "ip", "177.0.0.0/16", None, 0),
    ])
    assert h.login(login(at(days=9), ip="82.66.1.1"), PARIS, BOTH).novelty == ()
    assert h.login(login(at(days=9, hours=2), ip="82.66.1.1"), PARIS, BOTH).novelty == ()  # known by now anyway
    assert h.login(login(at(days=9, hours=3), ip="177.0.0.1"), SAO_PAULO, BOTH).novelty[0] == "new_ip"  # web1


def test_trust_targets_are_checked():
    assert parse_target("203.0.113.5") == ("ip", "203.0.113.5/32")
    assert parse_target("203.0.113.0/24") == ("ip", "203.0.113.0/24")
    with pytest.raises(ValueError, match=r"host bits set; did you mean 203\.0\.113\.0/24\?"):
        parse_target("203.0.113.77/24")  # as `check` refuses it in a rule: which was meant?
    assert parse_target("2001:DB8::/48") == ("ip", "2001:db8::/48")
    assert parse_target(KEY_A) == ("key", KEY_A)
    assert parse_target("MD5:" + ":".join(["ab"] * 16)) == ("key", ":".join(["ab"] * 16))
    for bad in ("alice", "300.1.1.1", "SHA256:short", "1.2.3.4/33", ""):
        with pytest.raises(ValueError, match="not an IP address"):
            parse_target(bad)


def test_an_ipv4_login_never_matches_an_ipv6_trust(store):
    t = Trusts([TrustRow("", "alice", "ip", "::/0", None, 0)])
    assert not t.covers("web1", "alice", "ip", "81.2.69.160", 0)
    assert t.covers("web1", "alice", "ip", "2a02:cf40::1", 0)


# -- impossible travel -------------------------------------------------------------


def test_impossible_travel_between_consecutive_located_logins(store):
    h = History(store, HistorySettings())
    h.login(login(at(0)), LONDON, BOTH)
    h.login(login(at(hours=0.5), ip="10.0.0.1"), PRIVATE, BOTH)  # no location: skipped over
    found = h.login(login(at(hours=1), ip="177.0.0.9"), SAO_PAULO, BOTH)
    t = found.travel
    assert t is not None
    assert (t.start.ip, t.start.place, t.end.ip, t.end.place) == ("81.2.69.160", "London, United Kingdom",
                                                                 "177.0.0.9", "São Paulo, Brazil")
    assert 9_400 - 60 - 5 < t.km < 9_500 - 60  # ~9,490 km, less 10 + 50 km of accuracy
    assert t.kmh == t.km  # in one hour
    assert h.login(login(at(hours=20), ip="177.0.0.9"), SAO_PAULO, BOTH).travel is None  # standing still


def test_possible_travel_and_fuzzy_neighbours_are_not_flagged(store):
    h = History(store, HistorySettings())
    h.login(login(at(0)), LONDON, BOTH)
    assert h.login(login(at(hours=2), ip="82.66.1.1"), PARIS, BOTH).travel is None  # 344 km in 2 h
    near = Geo("public", "FR", "France", "Paris", 48.9, 2.5, 20, 12322, "Free SAS")
    assert h.login(login(at(hours=2, days=0) + timedelta(seconds=1), ip="82.66.1.2"), near, BOTH).travel is None


def test_the_speed_limit_is_configurable(store):
    slow = History(store, HistorySettings(max_kmh=100))
    slow.login(login(at(0)), LONDON, BOTH)
    t = slow.login(login(at(hours=2), ip="82.66.1.1"), PARIS, BOTH).travel
    assert t is not None and 100 < t.kmh < 200


def test_the_last_location_survives_a_restart(store):
    h = History(store, HistorySettings())
    h.login(login(at(0)), LONDON, BOTH)
    save(h, store)
    assert History(store, HistorySettings()).login(login(at(hours=1), ip="177.0.0.9"), SAO_PAULO, BOTH).travel


# -- failures before a login ----------------------------------------------------------


def test_failures_from_the_address_or_for_the_user_in_the_window(store):
    h = History(store, HistorySettings(failure_window=timedelta(hours=1)))
    for i in range(5):
        h.failures.add(failure(at(hours=i / 100), user="root", ip="6.6.6.6"))
    for i in range(3):
        h.failures.add(failure(at(hours=0.1), user="alice", ip=f"7.7.7.{i}"))
    h.failures.add(failure(at(hours=0.1), user="alice", ip="8.8.8.8", invalid=True))  # counts for the address only
    assert h.failures.count(login(at(hours=0.5), ip="6.6.6.6")) == 5
    assert h.failures.count(login(at(hours=0.5), user="alice", ip="9.9.9.9")) == 3
    assert h.failures.count(login(at(hours=0.5), user="bob", ip="9.9.9.9")) == 0
    assert h.failures.count(login(at(hours=0.5), user="bob", ip="8.8.8.8")) == 1
    assert h.failures.count(login(at(hours=0.5), ip="6.6.6.6", host="web2")) == 5  # a central log's hosts share attackers
    assert h.failures.count(login(at(hours=1.2), ip="6.6.6.6")) == 0  # an hour later


def test_failure_counts_cover_the_window_in_steps(store):
    h = History(store, HistorySettings(failure_window=timedelta(hours=1)))
    h.failures.add(failure(at(0), ip="6.6.6.6"))
    assert h.failures.count(login(at(hours=0.8), ip="6.6.6.6")) == 1
    # One step (10 minutes) of slack: from 50 minutes on, an old failure may be forgotten, never kept past 60.
    assert h.failures.count(login(at(hours=1.01), ip="6.6.6.6")) == 0


def test_failure_counts_span_hosts(store):
    h = History(store, HistorySettings())
    h.failures.add(failure(at(0), ip="6.6.6.6", host="web1"))
    h.failures.add(failure(at(0), ip="6.6.6.6", host="web2"))
    assert h.failures.count(login(at(hours=0.1), ip="6.6.6.6", host="web3")) == 2


def test_failure_counts_are_bounded(store, monkeypatch):
    monkeypatch.setattr("authwatch.enrich.failures.MAX_KEYS", 100)
    h = History(store, HistorySettings())
    h.failures.add(failure(at(0), user="u-busy", ip="6.6.6.6"))
    h.failures.add(failure(at(0), user="u-busy", ip="6.6.6.6"))
    for i in range(1000):
        h.failures.add(failure(at(0), user=f"u{i}", ip=f"6.6.{i // 250}.{i % 250}"))
    h.failures.flush()
    g = h.failures._current
    assert len(g.by_ip) <= 100 and len(g.by_user) <= 100
    assert g.by_ip["6.6.6.6"] == 2 and g.by_user["u-busy"] == 2  # the most frequent are kept


def test_bounded_counts_are_cut_back_to_half_not_at_every_batch(store, monkeypatch):
    """A botnet of endless new addresses must not make every batch re-sort the
    counts: past the bound they are cut to half, and grow back before the next cut."""
    monkeypatch.setattr("authwatch.enrich.failures.MAX_KEYS", 100)
    h = History(store, HistorySettings())
    sizes = []
    for batch in range(20):
        for i in range(10):
            h.failures.add(failure(at(0), user="root", ip=f"10.{batch}.0.{i}"))
        h.failures.flush()
        sizes.append(len(h.failures._current.by_ip))
    assert max(sizes) <= 100
    cuts = sum(1 for a, b in zip(sizes, sizes[1:]) if b < a)
    assert 1 <= cuts <= 4  # 200 new addresses over a bound of 100: a cut per 50 new, not per batch


def test_failure_counts_survive_a_clean_stop(store):
    h = History(store, HistorySettings())
    for i in range(4):
        h.failures.add(failure(at(hours=i / 10), ip="6.6.6.6"))
    c = h.changes(final=True)
    store.enqueue([], None, [c])
    h.saved(c)
    assert History(store, HistorySettings()).failures.count(login(at(hours=0.5), ip="6.6.6.6")) == 4


def test_a_failure_without_an_address_counts_for_its_user_and_is_saved(store):
    """An ambiguous line gives a failure with no address (parse.sshd): the
    snapshot must not hold a NULL address, which the store refuses."""
    h = History(store, HistorySettings())
    h.failures.add(failure(at(0), user="alice", ip=None))
    h.failures.add(failure(at(0), user="bob", ip=None, invalid=True))
    assert h.failures.count(login(at(hours=0.1), user="alice", ip="9.9.9.9")) == 1
    c = h.changes(final=True)
    store.enqueue([], None, [c])
    h.saved(c)
    assert History(store, HistorySettings()).failures.count(login(at(hours=0.2), user="alice")) == 1


# -- saving with the pipeline --------------------------------------------------------


class _Enricher:
    def __init__(self, history):
        self.history = history

    def __call__(self, e):
        if e.kind == "login":
            self.history.login(e, LONDON, BOTH)
        return e

    def changes(self, final=False):
        return self.history.changes(final)

    def saved(self, c):
        self.history.saved(c)


def test_history_is_written_with_the_position_and_kept_when_the_write_fails(store, monkeypatch):
    h = History(store, HistorySettings())
    p = Pipeline(store, enrichers=[_Enricher(h)], report_all=False)
    real = store.enqueue
    monkeypatch.setattr(store, "enqueue", lambda *a, **k: (_ for _ in ()).throw(StoreError("disk full")))
    with pytest.raises(StoreError):
        p.feed([login(at(0))], at(0), Position("/var/log/auth.log", offset=100))
    assert store.history("alice") == [] and store.position("/var/log/auth.log") is None
    monkeypatch.setattr(store, "enqueue", real)
    p.feed([login(at(1), user="bob")], at(1), Position("/var/log/auth.log", offset=200))
    assert {r.user for r in store.history()} == {"alice", "bob"}  # alice's change was kept for this write
    assert store.position("/var/log/auth.log").offset == 200
    assert store.alert_count() == 2  # alice's alert was kept by the pipeline for this write too


def test_learn_mode_queues_no_alerts(store):
    h = History(store, HistorySettings())
    p = Pipeline(store, enrichers=[_Enricher(h)], queue=False)
    results = p.feed([login(at(0))], at(0)) + p.drain()
    assert [r.event.user for r in results] == ["alice"]
    assert results[0].alert is None and store.alert_count() == 0
    assert [r.user for r in store.history()] == ["alice"]
    assert store.rule_state() == ([], [], [])  # nor does it touch cooldowns, digests or summaries


def test_failures_counted_in_one_go_still_fall_into_their_own_generations(store):
    h = History(store, HistorySettings(failure_window=timedelta(hours=1)))
    for t in (at(0), at(0), at(0), at(hours=2), at(hours=2.05)):
        h.failures.add(failure(t, ip="6.6.6.6"))
    assert h.failures.count(login(at(hours=2.1), ip="6.6.6.6")) == 2  # the three at 0 h are out of the window
