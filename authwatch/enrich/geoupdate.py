"""`authwatch geoip update`: fetch the monthly DB-IP Lite City and ASN
databases (free, CC BY 4.0, no account needed), check them, and replace the
old files atomically. Messages show the URL with its password, account,
query values and path keys (see config.update_url_secrets) as `***`.

Each edition is downloaded to a temporary file beside its target, unpacked
(gzip, recognised by content), opened with the real reader and probed, and
only then renamed over the old file, so a failed download, a truncated or
corrupt file, or a database of the wrong kind leaves the old one in place. A
month's file appears a little after the month starts: when this month's
is not there yet (HTTP 404), last month's is taken. A running service notices
the new file within a minute and reopens it.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import BinaryIO, NamedTuple

from authwatch import __version__
from authwatch.config import scrub, update_url_secrets
from authwatch.enrich.geoip import GeoError, open_database

EDITIONS = (("city", "dbip-city-lite.mmdb", "location"), ("asn", "dbip-asn-lite.mmdb", "asn"))
MAX_BYTES = 1 << 30  # larger than any DB-IP Lite file unpacked (~130 MB); stops a decompression bomb
TIMEOUT_S = 60
_CHUNK = 1 << 20

Fetch = Callable[[str], BinaryIO]


class Outcome(NamedTuple):
    edition: str
    path: str
    ok: bool
    message: str  # "updated from URL (built 2026-11-01)" or why the old file was kept


class _NotThere(Exception):
    pass


def months(today: date) -> list[str]:
    """This month and the one before, as YYYY-MM."""
    previous = date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)
    return [f"{today:%Y-%m}", f"{previous:%Y-%m}"]


def _fetch(url: str) -> BinaryIO:
    request = urllib.request.Request(url, headers={"User-Agent": f"authwatch/{__version__}"})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - the configured http(s) URL
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise _NotThere(url) from None
        raise OSError(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise OSError(str(e.reason)) from None


def update(url_pattern: str, directory: str, today: date | None = None, fetch: Fetch = _fetch) -> list[Outcome]:
    """Update every edition into `directory`; one Outcome each."""
    today = today or datetime.now(timezone.utc).date()
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as e:
        return [Outcome(edition, os.path.join(directory, name), False, f"cannot create {directory}: {e.strerror}")
                for edition, name, _ in EDITIONS]
    secrets = update_url_secrets(url_pattern)
    return [o._replace(message=scrub(o.message, secrets))
            for o in (_update_one(edition, os.path.join(directory, name), want, url_pattern, today, fetch)
                      for edition, name, want in EDITIONS)]


def _update_one(edition: str, target: str, want: str, url_pattern: str, today: date, fetch: Fetch) -> Outcome:
    tried = []
    for month in months(today):
        url = url_pattern.format(edition=edition, month=month)
        tried.append(url)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                _download(fetch, url, out)
                out.flush()
                os.fsync(out.fileno())
            db = open_database(tmp, want)
            db.reader.close()
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            _sync_directory(os.path.dirname(target))
            return Outcome(edition, target, True, f"updated from {url} ({db.type}, built {db.built:%Y-%m-%d})")
        except _NotThere:
            continue
        except GeoError as e:
            return Outcome(edition, target, False, f"{url}: {_after_path(str(e), tmp)}; kept the old file")
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            return Outcome(edition, target, False, f"{url}: {reason}; kept the old file")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return Outcome(edition, target, False, f"not found (HTTP 404): {', '.join(tried)}; kept the old file")


def _download(fetch: Fetch, url: str, out: BinaryIO) -> None:
    """Copy the response to `out`, unpacking gzip, at most MAX_BYTES."""
    with fetch(url) as response:
        head = response.read(2)
        if head == b"\x1f\x8b":
            stream: BinaryIO = gzip.GzipFile(fileobj=_Prepend(head, response))  # type: ignore[assignment]
            head = b""
        else:
            stream = response
        total = len(head)
        out.write(head)
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if total > MAX_BYTES:
                raise OSError(f"larger than {MAX_BYTES >> 20} MiB unpacked: not a GeoIP database")
            out.write(chunk)


class _Prepend:
    """A readable stream of `head` then `rest` (for gzip after sniffing)."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            if n < 0:
                return out + self.rest.read()
            return out + self.rest.read(max(0, n - len(out)))
        return self.rest.read(n)


def _after_path(message: str, path: str) -> str:
    """A GeoError's reason without the temporary file's name."""
    return message[len(path) + 2:] if message.startswith(path + ": ") else message


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
