"""The configuration: where it is found, and YAML turned into validated settings.

Search path: `--config PATH`, else `$AUTHWATCH_CONFIG`, else
`/etc/authwatch/config.yaml` when running as root, else
`$XDG_CONFIG_HOME/authwatch/config.yaml` (`~/.config/...`). No file at all
means built-in defaults.

Every error names the file, line and column, the key path, and what was
expected; a misspelled key gets a "did you mean". `${NAME}` in a string is
replaced by the environment variable NAME (`$$` is a literal `$`); inside a
URL the value is percent-encoded, so a password with `@` or `/` cannot break
the URL. An unset NAME is an error, except in a target URL when the command
sends nothing (`load(..., sends=False)`: check, replay without --notify):
there it is a warning, as the URL is never used. Values of target URLs, which
hold secrets, are never repeated in messages.

Durations are written `30s`, `10m`, `2h`, `3d` (or a plain number of
seconds); `off` (or `false`) turns an optional check off.
"""

from __future__ import annotations

import difflib
import functools
import grp
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from authwatch import yamldoc, zones
from authwatch.errors import ConfigError, UsageError
from authwatch.rules import Rule
from authwatch.rules.schedule import Window
from authwatch.sources import configured

DEFAULT_CORRELATE_MS = 300
DEFAULT_POLL_INTERVAL = 5.0
ROOT_CONFIG = "/etc/authwatch/config.yaml"
_ENV = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# DB-IP Lite, free under CC BY 4.0, no account needed; {edition} is city or
# asn, {month} the release (YYYY-MM).
DEFAULT_GEOIP_URL = "https://download.db-ip.com/free/dbip-{edition}-lite-{month}.mmdb.gz"
SCOPES = ("host", "fleet")


@dataclass(frozen=True)
class GeoSettings:
    enabled: bool = True
    city: str | None = None  # a City or Country .mmdb; None: searched
    asn: str | None = None  # an ASN .mmdb; None: searched
    directory: str | None = None  # where `geoip update` writes; None: "geoip" beside the state database
    update_url: str = DEFAULT_GEOIP_URL
    max_age: timedelta = timedelta(days=45)


@dataclass(frozen=True)
class HistorySettings:
    scope: str = "host"  # host: per host and user; fleet: per user across the hosts of a central log (and travel)
    expire: timedelta = timedelta(days=180)
    learning_logins: int = 5  # a user is learned once both this many logins...
    learning_period: timedelta = timedelta(days=7)  # ...and this much time since the first have passed
    failure_window: timedelta = timedelta(hours=1)
    key_names: bool = True  # read authorized_keys for the key's comment
    max_kmh: float = 1000.0  # impossible travel above this speed


@dataclass(frozen=True)
class DeliverySettings:
    """The `delivery:` section: how the outbox is delivered (see authwatch.deliver)."""

    rate_limit: int = 20  # messages a minute per target; 0: no limit (critical alerts always pass)
    timeout: float = 10.0  # seconds, per request (connect, and each read)
    retry_first: float = 10.0  # first wait after a failure; it doubles (with jitter) up to retry_max
    retry_max: float = 900.0
    set_aside_after: int = 3  # tries before an alert that keeps failing stops holding back the next ones
    dead_after: float = 3 * 86400  # an alert undelivered for this long is marked dead
    keep: float = 30 * 86400  # delivered and dead alerts are forgotten after this long
    sendmail: str = "/usr/sbin/sendmail"  # program for sendmail:// targets (the URL's ?bin= wins)
    reverse_dns: bool = False  # look up the name of the client address (per alert, cached, unverified)
    reverse_dns_timeout: float = 1.0
    heartbeat: str | None = None  # "HH:MM": a daily "still watching" message at that local time
    target_failing_after: float | None = 3600.0  # tell the other targets when one has failed this long
    source_silent_after: float | None = None  # tell the targets when a source has been silent this long


@dataclass(frozen=True)
class Settings:
    file: str | None  # the file loaded; None: built-in defaults
    state: str
    sources: tuple[str, ...] = ("auto",)
    timezone: str | None = None  # IANA name; None: the system's zone
    tz: tzinfo | None = None
    correlate_ms: int = DEFAULT_CORRELATE_MS
    poll_interval: float = DEFAULT_POLL_INTERVAL  # seconds between safety polls of followed files
    # name -> {"url": ..., "where": "file:line:col", and optionally "rate_limit", "timeout"}
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    geoip: GeoSettings = GeoSettings()
    history: HistorySettings = HistorySettings()
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    rules: tuple[Rule, ...] = ()  # none: the built-in policy (every login alerts)
    quiet_hours: tuple[Window, ...] = ()
    digest_at: tuple[int, ...] = (8 * 60,)  # minutes after midnight, local
    secrets: tuple[str, ...] = ()  # "KEY.PATH: which part" of values that, as written in the file, hold secrets
    warnings: tuple[str, ...] = ()
    explicit: frozenset[str] = frozenset()  # the sections the file sets (the rest are defaults)

    @property
    def geoip_directory(self) -> str:
        return self.geoip.directory or os.path.join(os.path.dirname(os.path.abspath(self.state)), "geoip")


def default_state_path() -> str:
    return "/var/lib/authwatch/state.db" if os.geteuid() == 0 else user_state_path()


def user_state_path() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "authwatch", "state.db")


def user_config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "authwatch", "config.yaml")


def find(explicit: str | None = None) -> str | None:
    """The configuration file to use, or None for built-in defaults. A file
    named explicitly (option or $AUTHWATCH_CONFIG) must exist."""
    for named, how in ((explicit, "--config"), (os.environ.get("AUTHWATCH_CONFIG"), "$AUTHWATCH_CONFIG")):
        if named:
            if os.path.isdir(named):
                raise UsageError(f"{named}: is a directory, not a configuration file (from {how})")
            if not os.path.isfile(named):
                raise UsageError(f"{named}: no such configuration file (from {how})")
            return named
    candidate = _default_path()
    return candidate if os.path.isfile(candidate) else None


def _default_path() -> str:
    return ROOT_CONFIG if os.geteuid() == 0 else user_config_path()


def search_text() -> str:
    """Where a configuration file was looked for, for a person."""
    return f"none at {_default_path()}, and no --config or $AUTHWATCH_CONFIG"


def load(explicit: str | None = None, sends: bool = True) -> Settings:
    """The settings; `sends`: whether this command may send alerts (an unset
    ${NAME} in a target URL is then an error, else a warning)."""
    path = find(explicit)
    if path is None:
        return defaults()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError([f"{path}:{line}:{column}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                           "save the file as UTF-8"]) from None
    return parse(text, path, sends=sends)


def defaults() -> Settings:
    tz, warning = zones.system_zone()
    return Settings(file=None, state=default_state_path(), tz=tz, warnings=(warning,) if warning else ())


def parse(text: str, name: str, environ: Mapping[str, str] | None = None, sends: bool = True) -> Settings:
    try:
        doc = yamldoc.load(text, name)
    except yamldoc.YamlError as e:
        raise ConfigError([str(e)]) from None
    check = _Checker(doc, os.environ if environ is None else environ, sends)
    data = doc.data
    if data is None:
        check.warn((), "the file holds no settings (it is empty, or only comments): the built-in defaults hold "
                   "(rules.example.yaml shows every setting)")
        data = {}
    if not isinstance(data, dict):
        check.error((), "expected a mapping of settings (key: value) at the top level")
        raise ConfigError(check.errors, check.warnings)
    values: dict[str, Any] = {}
    for key, value in data.items():
        section = SECTIONS.get(key)
        if section is None:
            check.unknown((key,), key, SECTIONS)
            continue
        parsed = section(check, (key,), check.substitute((key,), value))
        if parsed is not _INVALID:
            values[key] = parsed
    from authwatch.rules import spec

    spec.cross_check(check, values)
    if check.errors:
        raise ConfigError(sorted(check.errors, key=_place), sorted(check.warnings, key=_place))
    tz_name = values.get("timezone")
    tz, tz_warning = (zones.zone(tz_name), None) if tz_name else zones.system_zone()
    return Settings(
        file=name,
        state=values.get("state") or default_state_path(),
        sources=values.get("sources", ("auto",)),
        timezone=tz_name,
        tz=tz,
        correlate_ms=values.get("correlate_ms", DEFAULT_CORRELATE_MS),
        poll_interval=values.get("poll_interval", DEFAULT_POLL_INTERVAL),
        targets=values.get("targets", {}),
        geoip=values.get("geoip", GeoSettings()),
        history=_history_settings(values.get("history", {}), values.get("travel", {})),
        delivery=values.get("delivery", DeliverySettings()),
        rules=values.get("rules", ()),
        quiet_hours=values.get("quiet_hours", ()),
        digest_at=values.get("digest_at", Settings.digest_at),
        secrets=_secrets_in_file(data),
        warnings=tuple(sorted(check.warnings, key=_place)) + ((tz_warning,) if tz_warning else ()),
        explicit=frozenset(values),
    )


def _secrets_in_file(data: dict) -> tuple[str, ...]:
    """The targets, and geoip.update_url, whose URL as written in the file
    (before ${NAME} is replaced) holds a password, a token or a license key:
    a file with these must not be readable by others. A user name alone is
    not a secret."""
    targets = data.get("targets")
    found = []
    for name, spec in (targets or {}).items() if isinstance(targets, dict) else ():
        url = spec.get("url") if isinstance(spec, dict) else spec
        if isinstance(url, str) and url_secrets(_ENV.sub("", url), user=False):
            found.append(f"targets.{name}: {_secret_parts(_ENV.sub('', url))}")
    geoip = data.get("geoip")
    url = geoip.get("update_url") if isinstance(geoip, dict) else None
    if isinstance(url, str) and update_url_secrets(_ENV.sub("", url), user=False):
        found.append("geoip.update_url: its password, a query value or a key in its path")
    return tuple(found)


def _secret_parts(url: str) -> str:
    """Which parts of a URL url_secrets() counts, for a person."""
    named = [name for name, found in _url_parts(url, user=False).items() if _forms(found)]
    if not named:
        return "the URL"
    tokens = [n for n in named if n != "its password"]
    return " and ".join(named) + (", which may be a token" if tokens else "")


def insecure(settings: Settings) -> str | None:
    """Why the service must not start with this configuration file, or None:
    the file holds secrets (target URLs with passwords or tokens) and group or
    others may read it, or anyone may write it (and so redirect alerts, or
    name the program run for sendmail://)."""
    if settings.file is None:
        return None
    try:
        st = os.stat(settings.file)
    except OSError:
        return None
    mode = st.st_mode
    fix = f"run 'chmod 600 {settings.file}'"
    if mode & 0o002:
        return f"{settings.file}: anyone may change it (mode {mode & 0o777:04o}): {fix}"
    if mode & 0o040 and not mode & 0o004 and _service_group(st):
        mode &= ~0o040  # root:authwatch 0640: the service reads what it may not change
    if settings.secrets and mode & 0o044:
        who = " and ".join(w for w, bit in (("group", 0o040), ("others", 0o004)) if mode & bit)
        return (f"{settings.file}: holds secrets ({'; '.join(settings.secrets)}) and is readable by {who} "
                f"(mode {mode & 0o777:04o}): {fix}, or take the secrets from the environment with ${{NAME}}")
    return None


def _service_group(st: os.stat_result) -> bool:
    """Whether a file owned by root (or by whoever runs this) belongs to the
    group the service runs as: its own group, or one named authwatch."""
    if st.st_uid not in (0, os.geteuid()):
        return False
    if st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return True
    try:
        return grp.getgrgid(st.st_gid).gr_name == "authwatch"
    except KeyError:
        return False


# Query keys of a target URL that are not secret (the rest may be tokens).
_NOT_SECRET = {"to", "from", "cc", "bcc", "mode", "format", "bin", "name", "smtp", "cto", "rto", "timeout", "verify"}


# Schemes whose URL host is a server's name, not a token (for every other
# Apprise service the "host" may well be a key: tgram://TOKEN/..., join://KEY).
_SERVER_HOST_SCHEMES = frozenset((
    "mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms", "mmost", "mmosts", "sendmail",
    "ntfy", "ntfys", "gotify", "gotifys", "rocket", "rockets", "matrix", "matrixs", "apprise", "apprises",
))


def url_secrets(url: str, user: bool = True) -> list[str]:
    """The parts of a target URL that may be secret (password, the host of
    services that carry a token there, tokens in the path, query values, and
    with `user` the user name, which some services use as a token), longest
    first, raw and percent-decoded, in their own case."""
    return _forms(s for found in _url_parts(url, user).values() for s in found)


def _url_parts(url: str, user: bool) -> dict[str, list[str]]:
    """What url_secrets() looks at, by the part of the URL it is in."""
    try:
        parts = urlsplit(url)
        out = {"its password": [parts.password or ""], "its user name": [(parts.username or "") if user else ""]}
        if parts.scheme.lower() not in _SERVER_HOST_SCHEMES:
            host = parts.netloc.rpartition("@")[2]
            out["its host"] = [host, host.rpartition(":")[0] or host]  # urlsplit's hostname would be lower-cased
        out["its path"] = parts.path.split("/")
        # as written: parse_qsl would turn a "+" into a space, Apprise keeps it
        query = [p.partition("=") for p in parts.query.split("&")]
        out["a query value"] = [v for k, _, v in query if unquote_plus(k).lower().lstrip("+-:") not in _NOT_SECRET]
    except ValueError:
        return {}
    return out


def update_url_secrets(url: str, user: bool = True) -> list[str]:
    """The parts of geoip.update_url that may be secret, as url_secrets()
    gives them: the password, with `user` the user name (an account id),
    query values, and path segments that look like a key (20 or more letters,
    digits and _ with a digit, as in DB-IP's /account/KEY/...); never a part
    holding {edition} or {month}, which changes with each download."""
    try:
        parts = urlsplit(url)
        found = [parts.password or "", (parts.username or "") if user else ""]
        found += [p for p in parts.path.split("/") if _PATH_KEY.fullmatch(unquote(p))]
        found += [q.partition("=")[2] for q in parts.query.split("&")]
    except ValueError:
        return []
    return _forms(s for s in found if "{" not in s)


_PATH_KEY = re.compile(r"(?=.*\d)\w{20,}", re.ASCII)


def _forms(found: Iterable[str]) -> list[str]:
    """Each of `found` raw and percent-decoded (a query's `+` a space or
    not), longest first; shorter than 3 characters is no secret."""
    out = set()
    for s in found:
        for form in (s, unquote(s), unquote_plus(s)):
            if len(form) >= 3:
                out.add(form)
    return sorted(out, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with each of `secrets` replaced by `***`, in whatever way it
    was percent-encoded again on the way (requests, urllib3 and Apprise each
    quote a URL their own way: `/` as `%2F` or not, `+` as `%2B`, a space as
    `+` or `%20`, hex digits in either case)."""
    return _secret_pattern(tuple(secrets)).sub("***", text) if secrets else text


@functools.lru_cache(maxsize=64)
def _secret_pattern(secrets: tuple[str, ...]) -> re.Pattern:
    """Each secret as a pattern where every character is itself or its
    percent-encoding; a space also `+` and a `+` also a space (as a query
    string is decoded), longest secret first."""
    def char(c: str) -> str:
        forms = [re.escape(c), "".join(f"%[{b >> 4:X}{b >> 4:x}][{b & 15:X}{b & 15:x}]" for b in c.encode())]
        if c in " +":
            forms.append(r"\+" if c == " " else " ")
        return f"(?:{'|'.join(forms)})"

    return re.compile("|".join("".join(map(char, s)) for s in sorted(secrets, key=len, reverse=True)))


_INVALID = object()
_PLACE = re.compile(r":(\d+):(\d+): ")


def _place(message: str) -> tuple[int, int]:
    """(line, column) of a `file:line:col: ...` message, to list them in file order."""
    m = _PLACE.search(message)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class _Checker:
    """Collects errors and warnings with their place in the file."""

    def __init__(self, doc: yamldoc.Doc, environ: Mapping[str, str], sends: bool):
        self.doc = doc
        self.environ = environ
        self.sends = sends  # whether target URLs will be used (see _substitute_str)
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def _say(self, path: tuple, message: str, key: bool = False) -> str:
        where = self.doc.where(path, key)
        keys = _dotted(path)
        return f"{where}: {keys}: {message}" if keys else f"{where}: {message}"

    def error(self, path: tuple, message: str) -> object:
        self.errors.append(self._say(path, message))
        return _INVALID

    def warn(self, path: tuple, message: str, key: bool = False) -> None:
        self.warnings.append(self._say(path, message, key))

    def unknown(self, path: tuple, key: Any, known: Mapping | tuple, fatal: bool = False) -> None:
        """An unknown key: a warning (it is ignored), or with `fatal` an error
        (where ignoring it would change what the rest means)."""
        close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(map(str, known)))}"
        if fatal:
            self.errors.append(self._say(path, f"unknown key {key!r}{hint}", key=True))
        else:
            self.warn(path, f"unknown key {key!r} (ignored){hint}", key=True)

    def choice(self, path: tuple, value: Any, choices: tuple[str, ...], what: str) -> Any:
        """`value` if it is one of `choices`, else an error with a "did you mean"."""
        if isinstance(value, str) and value in choices:
            return value
        close = difflib.get_close_matches(str(value), choices, n=1) if isinstance(value, str) else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return self.error(path, f"expected {what}: {_or(choices)}, got {value!r}{hint}")

    def substitute(self, path: tuple, value: Any) -> Any:
        """Replace ${NAME} in every string under `value`."""
        if isinstance(value, str):
            return self._substitute_str(path, value)
        if isinstance(value, dict):
            return {k: self.substitute(path + (k,), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(path + (i,), v) for i, v in enumerate(value)]
        return value

    def _substitute_str(self, path: tuple, text: str) -> str:
        if "$" not in text:
            return text
        in_url = bool(_URL.match(text))

        def replace(m: re.Match) -> str:
            name = m.group(1)
            if name is None:
                return "$"
            if name not in self.environ:
                unset = f"environment variable {name} is not set (used as ${{{name}}})"
                if path[0] == "targets" and not self.sends:  # the URL is never used
                    self.warn(path, f"{unset}: this command sends nothing, but run, scan, test-notify "
                                    "and replay --notify refuse to start without it")
                else:
                    self.error(path, unset)
                return ""
            value = self.environ[name]
            return quote(value, safe="") if in_url else value

        return _ENV.sub(replace, text)


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def parse_duration(value: Any, bare_seconds: bool = False) -> timedelta | None:
    """`250ms`, `90s`, `30m`, `1.5h`, `7d`, `2w` as a timedelta; None if it is
    not one. A bare number is taken as seconds only with `bare_seconds` (for
    settings named in seconds, such as timeouts): elsewhere `7` could as well
    mean days, and is refused."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return timedelta(seconds=value) if bare_seconds else None
    m = _DURATION.match(value) if isinstance(value, str) else None
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)]) if m else None


def _or(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


# -- sections ---------------------------------------------------------------


def _state(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        return check.error(path, f"expected a file path for the state database, got {_type_name(value)}")
    if not os.path.isabs(os.path.expanduser(value)):
        # relative to what? cron, the service and a shell would each find another database
        return check.error(path, f"expected an absolute path for the state database, got {value!r}")
    return os.path.expanduser(value)


def _sources(check: _Checker, path: tuple, value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return check.error(path, "expected a list of sources: auto, journal, journal:DIR, or file paths / globs")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            check.error(path + (i,), f"expected auto, journal, or a file path / glob, got {_type_name(item)}")
            continue
        hooked = configured.hook_entry(item)
        if hooked is not None:
            if not os.path.isabs(hooked[1]):
                check.error(path + (i,), f"expected {hooked[0]} or {hooked[0]}:ABSOLUTE-PATH, got {item!r}")
                continue
            out.append(item)
        elif item.startswith("journal:"):
            directory = os.path.expanduser(item[len("journal:"):])
            if not os.path.isabs(directory):
                check.error(path + (i,), f"journal:DIR: expected an absolute journal directory, got {item!r}")
                continue
            out.append("journal:" + os.path.normpath(directory))
        elif item in ("auto", "journal"):
            out.append(item)
        elif not os.path.isabs(os.path.expanduser(item)):
            check.error(path + (i,), f"expected an absolute path (or auto, journal, journal:DIR), got {item!r}")
        else:
            out.append(os.path.expanduser(item))
    return tuple(out)


def _timezone(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, str):
        return check.error(path, f"expected an IANA time zone name such as Europe/London, got {_type_name(value)}")
    try:
        zones.zone(value)
    except KeyError:
        shown = value if len(value) <= 60 else value[:60] + "..."
        return check.error(path, f"unknown time zone {shown!r}; expected an IANA name such as Europe/London or UTC")
    return value


def _correlate_ms(check: _Checker, path: tuple, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        return check.error(path, f"expected milliseconds from 0 to 10000, got {value!r}")
    return value


def _poll_interval(check: _Checker, path: tuple, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= 3600:
        return check.error(path, f"expected seconds from 0.1 to 3600, got {value!r}")
    return float(value)


_TARGET_KEYS = ("url", "rate_limit", "timeout")


def _targets(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, dict):
        return check.error(path, "expected a mapping of target names to Apprise URLs")
    out = {}
    for name, spec in value.items():
        where = path + (name,)
        if not isinstance(name, str) or not _TARGET_NAME.match(name):
            check.error(where, "a target name is letters, digits, '.', '_' or '-'")
            continue
        url_path = where if isinstance(spec, str) else where + ("url",)
        if isinstance(spec, str):
            spec = {"url": spec}
        if not isinstance(spec, dict):
            check.error(where, f"expected an Apprise URL or a mapping with url:, got {_type_name(spec)}")
            continue
        url = spec.get("url")
        if not isinstance(url, str) or not _URL.match(url):
            # Never repeat the value: a URL holds passwords and tokens.
            check.error(url_path if "url" in spec else where,
                        "expected an Apprise URL such as mailtos://user:pass@host or slack://T/B/C")
            continue
        target: dict[str, Any] = {"url": url, "where": check.doc.where(url_path)}
        for key, setting in spec.items():
            if key == "rate_limit":
                target[key] = _rate_limit(check, where + (key,), setting)
            elif key == "timeout":
                target[key] = _seconds(check, where + (key,), setting, low=0.1, high=300)
            elif key != "url":
                check.unknown(where + (key,), key, _TARGET_KEYS)
        if _INVALID not in target.values():
            out[name] = target
    return out


def _duration(check: _Checker, path: tuple, value: Any, least: timedelta, most: timedelta, off: bool = False,
              bare_seconds: bool = False) -> Any:
    d = parse_duration(value, bare_seconds)
    if d is None or not least <= d <= most:
        return check.error(path, f"expected a duration from {say_duration(least)} to {say_duration(most)} "
                                 f"such as 30s, 10m, 12h, 7d or 26w{', or off' if off else ''}, got {value!r}")
    return d


def say_duration(d: timedelta) -> str:
    """A duration as the configuration writes it: 30m, 1.5h, 7d."""
    seconds = d.total_seconds()
    if not seconds:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds * 1000:g}ms"


def _number(check: _Checker, path: tuple, value: Any, least: int, most: int, whole: bool = False) -> Any:
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not least <= value <= most:
        what = "a whole number" if whole else "a number"
        return check.error(path, f"expected {what} from {least:,} to {most:,}, got {value!r}")
    return value


def _boolean(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, bool):
        return check.error(path, f"expected true or false, got {value!r}")
    return value


def _mapping(check: _Checker, path: tuple, value: Any, keys: Mapping[str, Callable[[tuple, Any], Any]],
             what: str) -> dict[str, Any] | object:
    """Check a mapping whose keys each have a validator; unknown keys warn."""
    if not isinstance(value, dict):
        return check.error(path, f"expected a mapping of {what}, got {_type_name(value)}")
    out = {}
    for key, item in value.items():
        validate = keys.get(key)
        if validate is None:
            check.unknown(path + (key,), key, keys)
            continue
        parsed = validate(path + (key,), item)
        if parsed is not _INVALID:
            out[key] = parsed
    return out


def _absolute(check: _Checker, path: tuple, value: Any, what: str) -> Any:
    if not isinstance(value, str) or not os.path.isabs(os.path.expanduser(value)):
        return check.error(path, f"expected the absolute path of {what}, got {value!r}")
    return os.path.expanduser(value)


def _update_url(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, str) or not re.match(r"^https?://", value) or "{edition}" not in value:
        return check.error(path, "expected an http(s) URL with {edition} (city or asn) and optionally {month} "
                                 f"(YYYY-MM), such as {DEFAULT_GEOIP_URL}")
    try:
        value.format(edition="city", month="2026-01")
    except (KeyError, IndexError, ValueError):
        return check.error(path, "only {edition} and {month} may appear in braces")
    return value


def _geoip(check: _Checker, path: tuple, value: Any) -> Any:
    if value is False:
        return GeoSettings(enabled=False)
    parsed = _mapping(check, path, value, {
        "city": lambda p, v: _absolute(check, p, v, "a City or Country .mmdb file"),
        "asn": lambda p, v: _absolute(check, p, v, "an ASN .mmdb file"),
        "directory": lambda p, v: _absolute(check, p, v, "a directory"),
        "update_url": lambda p, v: _update_url(check, p, v),
        "max_age": lambda p, v: _duration(check, p, v, timedelta(days=1), timedelta(days=3650)),
        "enabled": lambda p, v: _boolean(check, p, v),
    }, "GeoIP settings (city, asn, directory, update_url, max_age, enabled), or false")
    return parsed if parsed is _INVALID else GeoSettings(**parsed)  # type: ignore[arg-type]


def _learning(check: _Checker, path: tuple, value: Any) -> Any:
    return _mapping(check, path, value, {
        "logins": lambda p, v: _number(check, p, v, 0, 100_000, whole=True),
        "period": lambda p, v: _duration(check, p, v, timedelta(0), timedelta(days=3650)),
    }, "logins: N and period: DURATION")


def _scope(check: _Checker, path: tuple, value: Any) -> Any:
    if value not in SCOPES:
        return check.error(path, f"expected host (history per host and user) or fleet (per user across "
                                 f"the hosts of a central log), got {value!r}")
    return value


def _history(check: _Checker, path: tuple, value: Any) -> Any:
    return _mapping(check, path, value, {
        "scope": lambda p, v: _scope(check, p, v),
        "expire": lambda p, v: _duration(check, p, v, timedelta(days=1), timedelta(days=3650)),
        "learning": lambda p, v: _learning(check, p, v),
        "failure_window": lambda p, v: _duration(check, p, v, timedelta(minutes=1), timedelta(days=7)),
        "key_names": lambda p, v: _boolean(check, p, v),
    }, "history settings (scope, expire, learning, failure_window, key_names)")


def _travel(check: _Checker, path: tuple, value: Any) -> Any:
    return _mapping(check, path, value, {
        "max_kmh": lambda p, v: _number(check, p, v, 1, 1_000_000),
    }, "travel settings (max_kmh)")


def _history_settings(history: Mapping[str, Any], travel: Mapping[str, Any]) -> HistorySettings:
    learning = history.get("learning", {})
    d = HistorySettings()
    return HistorySettings(
        scope=history.get("scope", d.scope),
        expire=history.get("expire", d.expire),
        learning_logins=int(learning.get("logins", d.learning_logins)),
        learning_period=learning.get("period", d.learning_period),
        failure_window=history.get("failure_window", d.failure_window),
        key_names=history.get("key_names", d.key_names),
        max_kmh=float(travel.get("max_kmh", d.max_kmh)),
    )


_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _seconds(check: _Checker, path: tuple, value: Any, low: float, high: float, off: bool = False) -> Any:
    """A duration as float seconds (see _duration); `off`: false or "off" mean None."""
    if off and (value is False or value == "off"):
        return None
    d = _duration(check, path, value, timedelta(seconds=low), timedelta(seconds=high), off, bare_seconds=True)
    return d if d is _INVALID else d.total_seconds()


def _rate_limit(check: _Checker, path: tuple, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        return check.error(path, f"expected messages a minute from 0 (no limit) to 10000, got {value!r}")
    return value


def _delivery(check: _Checker, path: tuple, value: Any) -> Any:
    if not isinstance(value, dict):
        return check.error(path, "expected a mapping of delivery settings")
    day = 86400.0
    fields: dict[str, Callable[[tuple, Any], Any]] = {
        "rate_limit": lambda p, v: _rate_limit(check, p, v),
        "timeout": lambda p, v: _seconds(check, p, v, low=0.1, high=300),
        "retry_first": lambda p, v: _seconds(check, p, v, low=0.01, high=day),
        "retry_max": lambda p, v: _seconds(check, p, v, low=0.01, high=7 * day),
        "set_aside_after": lambda p, v: v if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100
        else check.error(p, f"expected a number of tries from 1 to 100, got {v!r}"),
        "dead_after": lambda p, v: _seconds(check, p, v, low=60, high=365 * day),
        "keep": lambda p, v: _seconds(check, p, v, low=60, high=3650 * day),
        "sendmail": lambda p, v: v if isinstance(v, str) and os.path.isabs(v)
        else check.error(p, f"expected the absolute path of a sendmail program, got {v!r}"),
        "reverse_dns": lambda p, v: v if isinstance(v, bool)
        else check.error(p, f"expected true or false, got {v!r}"),
        "reverse_dns_timeout": lambda p, v: _seconds(check, p, v, low=0.05, high=30),
        "heartbeat": lambda p, v: None if v is False or v == "off" else (
            v if isinstance(v, str) and _CLOCK.match(v)
            else check.error(p, f"expected a daily time HH:MM such as 08:30, or off, got {v!r}")),
        "target_failing_after": lambda p, v: _seconds(check, p, v, low=60, high=30 * day, off=True),
        "source_silent_after": lambda p, v: _seconds(check, p, v, low=60, high=365 * day, off=True),
    }
    values = {}
    for key, setting in value.items():
        parse_field = fields.get(key)
        if parse_field is None:
            check.unknown(path + (key,), key, fields)
            continue
        values[key] = parse_field(path + (key,), setting)
    if _INVALID in values.values():
        return _INVALID
    settings = DeliverySettings(**values)
    if settings.retry_max < settings.retry_first:
        return check.error(path + ("retry_max",), "must not be shorter than retry_first")
    return settings


def _rules_section(name: str) -> Callable[[_Checker, tuple, Any], Any]:
    """A section checked in authwatch/rules/spec.py (imported when used:
    it builds on the helpers above)."""

    def check_section(check: _Checker, path: tuple, value: Any) -> Any:
        from authwatch.rules import spec

        return getattr(spec, name)(check, path, value)

    return check_section


SECTIONS: dict[str, Callable[[_Checker, tuple, Any], Any]] = {
    "state": _state,
    "sources": _sources,
    "timezone": _timezone,
    "correlate_ms": _correlate_ms,
    "poll_interval": _poll_interval,
    "targets": _targets,
    "geoip": _geoip,
    "history": _history,
    "travel": _travel,
    "delivery": _delivery,
    "quiet_hours": _rules_section("quiet_hours"),
    "digest_at": _rules_section("digest_at"),
    "rules": _rules_section("rules"),
}
