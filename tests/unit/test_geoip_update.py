"""`authwatch geoip update` against a real HTTP server on loopback serving
gzipped databases, good and bad."""

import gzip
import http.server
import socket
import threading
from datetime import date

import pytest

from authwatch.enrich import geoupdate
from authwatch.enrich.geoip import GeoIP
from tests.mmdbs import WORLD, asn_db, city_db

TODAY = date(2026, 11, 3)


class Server:
    """Serves `files` (path -> bytes); anything else is a 404. Records requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def pattern(self) -> str:
        return self.url + "/free/dbip-{edition}-lite-{month}.mmdb.gz"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def _server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def server(_server):
    _server.files.clear()
    _server.requests.clear()
    return _server


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("dbs")
    return {"city": gzip.compress(city_db(d / "c.mmdb").read_bytes()),
            "asn": gzip.compress(asn_db(d / "a.mmdb").read_bytes())}


def serve(server, month, city, asn):
    server.files[f"/free/dbip-city-lite-{month}.mmdb.gz"] = city
    server.files[f"/free/dbip-asn-lite-{month}.mmdb.gz"] = asn


def test_both_editions_are_fetched_checked_and_put_in_place(server, good, tmp_path):
    serve(server, "2026-11", good["city"], good["asn"])
    outcomes = geoupdate.update(server.pattern, str(tmp_path / "geoip"), TODAY)
    assert [o.ok for o in outcomes] == [True, True], outcomes
    assert "updated from" in outcomes[0].message and "DBIP-City-Lite" in outcomes[0].message
    g = GeoIP(str(tmp_path / "geoip" / "dbip-city-lite.mmdb"), str(tmp_path / "geoip" / "dbip-asn-lite.mmdb"))
    assert g.warnings == [] and g.lookup("81.2.69.160").city == "London" and g.lookup("81.2.69.160").asn == 20712
    assert sorted(p.name for p in (tmp_path / "geoip").iterdir()) == ["dbip-asn-lite.mmdb", "dbip-city-lite.mmdb"]
    assert oct((tmp_path / "geoip" / "dbip-city-lite.mmdb").stat().st_mode & 0o777) == "0o644"


def test_last_month_is_taken_when_this_month_is_not_out_yet(server, good, tmp_path):
    serve(server, "2026-10", good["city"], good["asn"])
    outcomes = geoupdate.update(server.pattern, str(tmp_path), TODAY)
    assert all(o.ok for o in outcomes)
    assert server.requests[:2] == ["/free/dbip-city-lite-2026-11.mmdb.gz", "/free/dbip-city-lite-2026-10.mmdb.gz"]


def test_january_falls_back_to_december(server, good, tmp_path):
    serve(server, "2025-12", good["city"], good["asn"])
    assert all(o.ok for o in geoupdate.update(server.pattern, str(tmp_path), date(2026, 1, 2)))


@pytest.mark.parametrize("bad, reason", [
    ("truncated-gzip", "Compressed file ended before the end-of-stream marker was reached"),
    ("not-gzip-not-mmdb", "not a valid .mmdb database"),
    ("gzip-of-garbage", "not a valid .mmdb database"),
    ("wrong-edition", "expected a City or Country database"),
])
def test_a_bad_download_leaves_the_old_database(server, good, tmp_path, bad, reason):
    old = city_db(tmp_path / "dbip-city-lite.mmdb", {"81.2.69.0/24": WORLD["177.0.0.0/16"]})
    before = old.read_bytes()
    city = {
        "truncated-gzip": good["city"][: len(good["city"]) // 2],
        "not-gzip-not-mmdb": b"<html>Too many requests</html>",
        "gzip-of-garbage": gzip.compress(b"\x00" * 5000),
        "wrong-edition": good["asn"],
    }[bad]
    serve(server, "2026-11", city, good["asn"])
    city_outcome, asn_outcome = geoupdate.update(server.pattern, str(tmp_path), TODAY)
    assert not city_outcome.ok and reason in city_outcome.message and "kept the old file" in city_outcome.message
    assert asn_outcome.ok
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dbip-asn-lite.mmdb", "dbip-city-lite.mmdb"]  # no leftovers


def test_nothing_there_and_no_server(server, tmp_path):
    outcomes = geoupdate.update(server.pattern, str(tmp_path), TODAY)
    assert not any(o.ok for o in outcomes) and "not found (HTTP 404)" in outcomes[0].message
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    outcomes = geoupdate.update(f"http://127.0.0.1:{port}/{{edition}}.gz", str(tmp_path), TODAY)
    assert not any(o.ok for o in outcomes) and "refused" in outcomes[0].message.lower()


def test_a_decompression_bomb_is_stopped(server, good, tmp_path, monkeypatch):
    monkeypatch.setattr(geoupdate, "MAX_BYTES", 100_000)
    serve(server, "2026-11", gzip.compress(b"\x00" * 300_000), good["asn"])
    city, _ = geoupdate.update(server.pattern, str(tmp_path), TODAY)
    assert not city.ok and "larger than" in city.message


def test_the_command(server, good, tmp_path, cli):
    serve(server, f"{date.today():%Y-%m}", good["city"], good["asn"])
    config = tmp_path / "c.yaml"
    config.write_text(f"state: {tmp_path}/state.db\ngeoip: {{update_url: '{server.pattern}'}}\n")
    r = cli("geoip", "update", "--config", str(config))
    assert r.code == 0, r.err
    assert f"city: {tmp_path}/geoip/dbip-city-lite.mmdb: updated from {server.url}" in r.out
    assert "IP Geolocation by DB-IP" in r.out
    assert cli("geoip", "update", "--quiet", "--config", str(config)).out == ""
    server.files.clear()
    r = cli("geoip", "update", "--quiet", "--config", str(config))
    assert r.code == 1 and r.out == "" and r.err.count("authwatch: error: ") == 2 and "kept the old file" in r.err
    r = cli("geoip", "lookup", "177.0.0.1", "--config", str(config))
    assert "São Paulo, Brazil (BR)" in r.out  # the old files still serve


KEY = "0123456789abcdef0123456789abcdef01234567"  # a DB-IP style account key


def test_the_command_shows_no_key_token_or_password_of_the_url(server, good, tmp_path, cli):
    month = f"{date.today():%Y-%m}"
    for edition in ("city", "asn"):
        server.files[f"/account/{KEY}/db/{edition}-{month}.mmdb.gz?edition={edition}&token=TokSecret"] = good[edition]
    config = tmp_path / "c.yaml"
    config.write_text(f"state: {tmp_path}/state.db\ngeoip: {{update_url: "
                      f"'{server.url}/account/{KEY}/db/{{edition}}-{{month}}.mmdb.gz?edition={{edition}}&token=TokSecret'}}\n")
    config.chmod(0o600)
    r = cli("geoip", "update", "--config", str(config))
    assert r.code == 0, r.err
    assert f"updated from {server.url}/account/***/db/city-{month}.mmdb.gz?edition=city&token=*** (" in r.out
    server.files.clear()
    r = cli("geoip", "update", "--config", str(config))
    assert r.code == 1 and "not found (HTTP 404)" in r.err
    pw = tmp_path / "pw.yaml"
    pw.write_text(f"state: {tmp_path}/state.db\ngeoip: {{update_url: 'http://acct:LicKey@{server.url[7:]}/{{edition}}.gz'}}\n")
    failed = cli("geoip", "update", "--config", str(pw))
    assert failed.code == 1 and "http://***:***@127.0.0.1:" in failed.err
    for text in (r.out, r.err, failed.err):
        assert not any(secret in text for secret in (KEY, "TokSecret", "LicKey", "acct"))
