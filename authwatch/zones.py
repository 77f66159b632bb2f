"""Time zones: the configured one, else the system's."""

from __future__ import annotations

import os
from datetime import timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises KeyError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory (`America`), a name too long
        raise KeyError(name) from None


def system_zone() -> tuple[tzinfo, str | None]:
    """The zone the system writes local times in: $TZ, else /etc/localtime
    (else UTC); and a warning when $TZ is set to no zone."""
    name = os.environ.get("TZ", "").lstrip(":")
    warning = None
    if name:
        try:
            return zone(name), None
        except KeyError:
            shown = name if len(name) <= 60 else name[:60] + "..."
            warning = f"TZ={shown!r} in the environment is not a time zone; the system's (/etc/localtime) is used"
    try:
        target = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in target:
            return zone(target.split("/zoneinfo/", 1)[1]), warning
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime"), warning
    except (OSError, KeyError, ValueError):
        return timezone.utc, warning
