"""sshd's messages (the text after `sshd[pid]: `) turned into events.

A client chooses some of the text sshd logs, and every pattern here is built
so that text cannot move the fields sshd computes itself (address, port, key):

* A name that is not an account (`Invalid user X`, `Failed ... for invalid
  user X`, `... invalid user X <ip> port <n>`) is anchored at the end of the
  message: the address is the ` from <ip> port <n>` followed by exactly the
  tail sshd writes up to the end, so a user name such as
  `x from 6.6.6.6 port 22 ssh2`, or one with spaces, cannot move it. Where
  that tail holds no free text (`<ip> port <n> [preauth]`) it can be read
  in one way only, and the name is matched lazily (the same split, found
  sooner); where it may (a certificate ID, a hostbased client user after
  `ssh2: `), greedily: the *last* such address.
* When both the invalid name and that free text are the client's, the split
  can be the client's too: `bob from 203.0.113.5 port 40001 ssh2: ED25519-CERT
  <fp> ID x from 6.6.6.6 port 22 ssh2: ED25519 <fp> ID y (serial 1) ...` reads
  as bob from 203.0.113.5 (the ID holding the rest) or as a long name from
  6.6.6.6. Every split with a valid address is tried (_readings): one is kept;
  several make an event with no address, port or key, and a detail that says
  why.
* For an account that exists the name is the administrator's; what a client
  chooses comes after the key (hostbased `client user "..."`), so the name is
  taken up to the *first* ` from <ip> port <n> ssh2` with a valid tail.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime

from authwatch import event as ev
from authwatch.event import DISCONNECT, FAILURE, INVALID_USER, KEY_FOUND, LOGIN, LOGOUT, PARTIAL, SESSION, Cert, Event

# Outcomes that are not events, for the replay statistics.
NOISE = "noise"  # a known sshd message that says nothing about logins
UNKNOWN = "unknown"  # looked like sshd but matched no known shape

# sshd formats a message into a buffer of 1024 bytes (MSGBUFSIZ) and cuts what
# does not fit, so a longer message did not come from sshd (anyone can write a
# line tagged sshd). It is UNKNOWN before any pattern sees it: some of them
# backtrack quadratically, quick at this size, seconds at 64 KB.
MAX_MESSAGE = 2048

# An address must look like one, so a bare number in a user name can never be
# taken for it. IPv4 is checked exactly here; IPv6 by `ipaddress` afterwards.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IP = rf"(?P<ip>{_OCTET}(?:\.{_OCTET}){{3}}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:%[\w.-]+)?)"
# A port is 0 to 65535: "port 99999" is not something sshd writes.
_PORT = r"(?P<port>6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4})"
# Key fingerprints as sshd prints them: SHA256 (base64, 43 chars), or MD5 in
# hex pairs (old RHEL builds, with or without the "MD5:" label).
_FP = r"(?:SHA256:[A-Za-z0-9+/]{43}|(?:MD5:)?[0-9a-f]{2}(?::[0-9a-f]{2}){15}|\(null\))"
_KTYPE = r"[A-Z0-9]+(?:-[A-Z0-9]+)*"
_KEY_EXTRA = (
    rf"(?P<ktype>{_KTYPE}) (?P<fp>{_FP})"
    rf"(?: ID (?P<cid>.*) \(serial (?P<serial>\d+)\) CA (?P<catype>{_KTYPE}) (?P<cafp>{_FP}))?"
    r"(?:, (?P<info>.*))?"
)
_AUTH_HEAD = (  # not gssapi-*, whose free text after "ssh2: " is _AUTH_GSS's: the fast path must not misread it
    r"(?P<method>(?!gssapi-)[a-z0-9-]+(?:/[a-z0-9-]+)?) for "
    r"(?:(?P<inv>invalid user )(?P<user>.*)|(?P<account>.*?)) from "  # see the module docstring
)

# Accepted/Failed/Partial with a key (publickey, hostbased) or nothing after ssh2.
_AUTH_TAIL = rf"{_IP} port {_PORT} ssh2(?:: {_KEY_EXTRA})?$"
_AUTH = re.compile(_AUTH_HEAD + _AUTH_TAIL, re.ASCII)
# gssapi-with-mic logs the principal (not a key) after "ssh2: ".
_GSS_TAIL = rf"{_IP} port {_PORT} ssh2(?:: (?P<info>.*))?$"
_AUTH_GSS = re.compile(
    rf"(?P<method>gssapi-with-mic|gssapi-keyex) for (?:(?P<inv>invalid user )(?P<user>.*)|(?P<account>.*?)) "
    rf"from {_GSS_TAIL}",
    re.ASCII,
)
# What may follow an invalid name's " from ", for _readings.
_AUTH_REST = re.compile(_AUTH_TAIL, re.ASCII)
_GSS_REST = re.compile(_GSS_TAIL, re.ASCII)
_INVALID = re.compile(  # matched from after "Invalid user " / "Illegal user "
    rf"(?P<user>.*?) from {_IP}(?: port {_PORT})?$", re.ASCII)
_CLOSED = re.compile(  # matched from "closed by " / "reset by "
    rf"(?:closed|reset) by (?:(?P<state>authenticating|invalid) user (?P<user>.*?) )?{_IP}(?: port {_PORT})?(?P<pre> \[preauth\])?$", re.ASCII
)
_DISCONNECTED = re.compile(  # matched from "from "
    rf"from (?:(?P<state>user|authenticating user|invalid user) (?P<user>.*?) )?{_IP}(?: port {_PORT})?(?P<pre> \[preauth\])?$", re.ASCII
)
_STARTING = re.compile(  # matched from after "Starting session: "
    r"(?:(?P<shell>shell)|(?P<command>command)|subsystem '(?P<subsys>[^']*)'"
    r"|forced-command \((?:config|key-option)\) '(?P<forced>.*)')"
    rf"(?: on (?P<tty>\S+))? for (?P<user>.*) from {_IP} port {_PORT} id \d+$",
    re.ASCII,
)
_KEY_FOUND = re.compile(rf"(?P<ktype>{_KTYPE}) (?P<fp>{_FP}) found at (?P<loc>.+)$", re.ASCII)
_PAM_SESSION_HEAD = re.compile(r"pam_unix\([^:()]+:session\): ")
_PAM_SESSION = re.compile(  # matched from after the head
    r"session (?P<ev>opened|closed) for user (?P<user>[^\s(]+)(?:\(uid=\d+\))?(?: by .*)?$", re.ASCII
)
_SFTP_SESSION = re.compile(rf"(?P<ev>opened|closed) for local user (?P<user>.*) from \[{_IP}\]$", re.ASCII)

# Messages sshd (and PAM inside sshd) logs that carry no login information.
NOISE_PREFIXES = (
    "Received disconnect from ",
    "Connection from ",
    "Server listening on ",
    "Received signal ",
    "Received SIGHUP",
    "Postponed ",
    "User child is on pid ",
    "Close session: ",
    "Transferred: ",
    "Closing connection ",
    "Changed root directory ",
    "pam_",
    "PAM ",
    "error: ",
    "fatal: ",
    "Disconnecting ",
    "Unable to negotiate ",
    "banner exchange: ",
    "kex_exchange_identification: ",
    "Timeout before authentication ",
    "drop connection #",
    "srclimit_penalise: ",
    "ROOT LOGIN REFUSED ",
    "User ",
    "Bad protocol version ",
    "Did not receive identification string ",
    "Protocol major versions differ",
    "maximum authentication attempts exceeded ",
    "subsystem request for ",
    "Read from socket failed",
    "Set /proc/self/oom_score_adj ",
    "Exiting on signal ",
    "syslogin_perform_logout: ",
    "Attempt to write login records ",
    # older OpenSSH, RHEL, DNS checks, tcp-wrappers, GSSAPI, debug levels
    "input_userauth_request: ",
    "reverse mapping checking ",
    "Address ",
    "Nasty PTR record ",
    "refused connect from ",
    "warning: ",
    "Authorized to ",
    "Authentication tried for ",
    "Authentication refused: ",
    "Timeout, client not responding ",
    "Read error from remote host ",
    "packet_write_wait: ",
    "ssh_dispatch_run_fatal: ",
    "rexec line ",
    "Missing privilege separation directory",
    "Unable to load host key",
    "Could not load host key",
    "debug1: ",
    "debug2: ",
    "debug3: ",
)
# sftp-server / internal-sftp log one line per file operation at INFO.
SFTP_NOISE_PREFIXES = (
    "open ", "close ", "opendir ", "closedir ", "remove ", "rename ", "mkdir ", "rmdir ", "realpath ",
    "stat ", "lstat ", "fstat ", "set ", "sent status ", "posix-rename ", "symlink ", "readlink ",
    "statvfs ", "fstatvfs ", "hardlink ", "fsync ", "lsetstat ", "copy-data ", "home-directory ",
    "expand-path ", "users-groups-by-id ", "limits ", "request ", "session opened ", "session closed ",
)

_ip_cache: dict[str, str | None] = {}


def canonical_ip(text: str) -> str | None:
    """The address in its canonical form (IPv4-mapped IPv6 becomes IPv4), or
    None if `text` is not an IP address."""
    got = _ip_cache.get(text, False)
    if got is not False:
        return got  # type: ignore[return-value]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        result = None
    else:
        mapped = getattr(addr, "ipv4_mapped", None)
        result = str(mapped or addr)
    if len(_ip_cache) > 65536:
        _ip_cache.clear()
    _ip_cache[text] = result
    return result


def _addr(text: str) -> str | None:
    # IPv4 matched _IP exactly and is canonical already; IPv6 needs checking.
    return canonical_ip(text) if ":" in text else text


Handler = Callable[..., "Event | str"]  # (msg, ident, pid, host, time, source)


def parse_message(
    msg: str, ident: str, pid: int | None, host: str | None, time: datetime, source: str | None
) -> Event | str:
    """One sshd message to an Event, or NOISE / UNKNOWN."""
    handler = handler_for(msg, ident)
    if handler.__class__ is str:
        return handler  # type: ignore[return-value]
    return handler(msg, ident, pid, host, time, source)  # type: ignore[operator]


def handler_for(msg: str, ident: str) -> Handler | str:
    """The function that turns `msg` into an event, or NOISE / UNKNOWN when
    no event can come of it. Cheap: lets a caller skip the timestamp of the
    many lines that say nothing about logins."""
    if len(msg) > MAX_MESSAGE:
        return UNKNOWN
    if ident == "internal-sftp" or ident == "sftp-server":
        if msg.startswith("session "):
            return _sftp
        return NOISE if msg.startswith(SFTP_NOISE_PREFIXES) else UNKNOWN
    handler = _BY_WORD.get(msg[: msg.find(" ")])
    if handler is not None:
        return handler
    if msg.startswith("pam_"):
        return _pam_session if _PAM_SESSION_HEAD.match(msg) else NOISE
    return NOISE if msg.startswith(NOISE_PREFIXES) else UNKNOWN


# -- handlers: a message to an event ------------------------------------------


def _failed(msg, ident, pid, host, time, source):
    if msg.startswith("Failed to "):  # "Failed to release session: ...", "Failed to set ..."
        return NOISE
    return _auth(msg, 7, FAILURE, ident, pid, host, time, source)


def _partial(msg, ident, pid, host, time, source):
    return _auth(msg, 8, PARTIAL, ident, pid, host, time, source)


def _accepted(msg, ident, pid, host, time, source):
    if msg.startswith("key ", 9):
        m = _KEY_FOUND.match(msg, 13)
        return UNKNOWN if m is None else key_found_event(m.groups(), ident, pid, host, time, source)
    if msg.startswith("certificate ", 9):
        return NOISE
    return _auth(msg, 9, LOGIN, ident, pid, host, time, source)


def _auth(msg: str, at: int, kind: str, ident, pid, host, time, source) -> Event | str:
    if msg.startswith("gssapi-", at):
        m = _AUTH_GSS.match(msg, at)
        if m is None:
            return UNKNOWN
        method, inv, user, account, ip, port, info = m.groups()
        g = (method, inv, user, account, ip, port, None, None, None, None, None, None, info)
        return auth_event(g, 0, kind, ident, pid, host, time, source)
    m = _AUTH.match(msg, at)
    return UNKNOWN if m is None else auth_event(m.groups(), 0, kind, ident, pid, host, time, source)


def _invalid(msg, ident, pid, host, time, source):
    if not msg.startswith(" user ", 7):  # "Invalid user " / "Illegal user "
        return UNKNOWN
    m = _INVALID.match(msg, 13)
    return UNKNOWN if m is None else invalid_event(m.groups(), 0, None, ident, pid, host, time, source)


def _disconnected(msg, ident, pid, host, time, source):
    m = _DISCONNECTED.match(msg, 13)
    return UNKNOWN if m is None else ended_event(m.groups(), 0, None, ident, pid, host, time, source)


def _connection(msg, ident, pid, host, time, source):
    if msg.startswith("closed by ", 11) or msg.startswith("reset by ", 11):
        m = _CLOSED.match(msg, 11)
        return UNKNOWN if m is None else ended_event(m.groups(), 0, None, ident, pid, host, time, source)
    return NOISE if msg.startswith("from ", 11) else UNKNOWN


def _starting(msg, ident, pid, host, time, source):
    if not msg.startswith("session: ", 9):
        return UNKNOWN
    m = _STARTING.match(msg, 18)
    return UNKNOWN if m is None else session_event(m.groups(), ident, pid, host, time, source)


def _pam_session(msg, ident, pid, host, time, source):
    m = _PAM_SESSION.match(msg, _PAM_SESSION_HEAD.match(msg).end())  # type: ignore[union-attr]
    if m is None:
        return UNKNOWN
    opened, user = m.groups()
    return Event(
        SESSION if opened == "opened" else LOGOUT, time, host, user, None, None, None, (), None, None, None,
        None, None, None, "pam_unix", False, False, ident, pid, source,
    )


def _sftp(msg, ident, pid, host, time, source) -> Event | str:
    m = _SFTP_SESSION.match(msg, 8)
    if m is None:
        return UNKNOWN
    opened, user, ip = m.groups()
    ip = _addr(ip)
    if ip is None:
        return UNKNOWN
    return Event(
        SESSION if opened == "opened" else LOGOUT, time, host, user, ip, None, None, (), None, None, None,
        None, ev.SFTP, None, ident, False, False, ident, pid, source,
    )


_BY_WORD = {
    "Failed": _failed,
    "Partial": _partial,
    "Accepted": _accepted,
    "Invalid": _invalid,
    "Illegal": _invalid,
    "Disconnected": _disconnected,
    "Connection": _connection,
    "Starting": _starting,
}

# -- builders: the groups of a match to an event --------------------------------
# The builders of the lines a brute-forced host logs most build the tuple
# directly (a third of the cost of calling Event(...)), with these fields,
# in order, followed by the defaults of any fields appended later (_TAIL):
# kind, time, host, user, ip, port, method, methods, key, key_type, cert,
# key_location, session, tty, detail, invalid_user, preauth, ident, pid, source.
_new = tuple.__new__
_ORDER = ("kind", "time", "host", "user", "ip", "port", "method", "methods", "key", "key_type", "cert",
          "key_location", "session", "tty", "detail", "invalid_user", "preauth", "ident", "pid", "source")
if Event._fields[: len(_ORDER)] != _ORDER:  # new Event fields go at the end
    raise ImportError("authwatch.event.Event fields changed order; update authwatch.parse.sshd")
_TAIL = tuple(Event._field_defaults[f] for f in Event._fields[len(_ORDER) :])


def auth_event(g: tuple, at: int, kind: str, ident, pid, host, time, source) -> Event | str:
    """From the 13 groups of _AUTH starting at g[at]: Accepted / Failed / Partial."""
    method, inv, user, account, ip, port, ktype, fp, cid, serial, catype, cafp, info = g[at : at + 13]
    if inv is not None and " from " in user and (cid is not None or info is not None or method[:7] == "gssapi-"):
        readings = _readings(g[at : at + 13])
        if len(readings) != 1:
            return _ambiguous(readings, kind, ident, pid, host, time, source) if readings else UNKNOWN
        method, inv, user, account, ip, port, ktype, fp, cid, serial, catype, cafp, info = readings[0]
    if ":" in ip:
        ip = canonical_ip(ip)
        if ip is None:
            return UNKNOWN
    cert = Cert(cid, int(serial), catype, cafp) if cid is not None else None
    return _new(Event, (
        kind, time, host, account if inv is None else user, ip, int(port), method, (method,),
        None if fp == "(null)" else fp, ktype, cert,
        None, None, None, info, inv is not None, kind != LOGIN, ident, pid, source,
    ) + _TAIL)


def _readings(g: tuple) -> list[tuple]:
    """The 13 groups of every split, with a valid address, of what the groups
    `g` of an invalid name followed by client-chosen text were matched from
    (see the module docstring)."""
    method, inv, user, account, ip, port, ktype, fp, cid, serial, catype, cafp, info = g
    text = f"{user} from {ip} port {port} ssh2"  # the message after "invalid user "
    if ktype is not None:
        text += f": {ktype} {fp}" + (f" ID {cid} (serial {serial}) CA {catype} {cafp}" if cid is not None else "")
        text += f", {info}" if info is not None else ""
    elif info is not None:
        text += f": {info}"  # a GSSAPI principal
    gss = method[:7] == "gssapi-"
    rest = _GSS_REST if gss else _AUTH_REST
    readings = []
    at = text.find(" from ")
    while at >= 0:
        m = rest.match(text, at + 6)
        if m is not None and _addr(m[1]) is not None:
            groups = m.groups()
            if gss:  # as _AUTH's: no key, no certificate
                groups = groups[:2] + (None,) * 6 + groups[2:]
            readings.append((method, inv, text[:at], None, *groups))
        at = text.find(" from ", at + 1)  # " from from " holds two
    return readings


def _ambiguous(readings: list[tuple], kind: str, ident, pid, host, time, source) -> Event:
    """A line that splits in several ways, each with a valid address: which
    one sshd wrote cannot be told, so it gives no address, port or key (the
    failure still counts for its kind and name: the shortest name, as if the
    rest were the free text)."""
    method, _, user = readings[0][:3]
    where = " or ".join(f"{_addr(r[4])} port {r[5]}" for r in readings[:3])
    more = f" ({len(readings)} ways)" if len(readings) > 3 else ""
    detail = (f"ambiguous line, no address taken: the client chose both the name and the text after the key, "
              f"and the line reads as from {where}{more}")
    return _new(Event, (
        kind, time, host, user, None, None, method, (method,), None, None, None,
        None, None, None, detail, True, kind != LOGIN, ident, pid, source,
    ) + _TAIL)


def invalid_event(g: tuple, at: int, kind: None, ident, pid, host, time, source) -> Event | str:
    """From the 3 groups of _INVALID starting at g[at]."""
    user, ip, port = g[at : at + 3]
    if ":" in ip:
        ip = canonical_ip(ip)
        if ip is None:
            return UNKNOWN
    return _new(Event, (
        INVALID_USER, time, host, user, ip, int(port) if port else None, None, (), None, None, None,
        None, None, None, None, True, True, ident, pid, source,
    ) + _TAIL)


def ended_event(g: tuple, at: int, kind: None, ident, pid, host, time, source) -> Event | str:
    """From the 5 groups of _DISCONNECTED / _CLOSED starting at g[at]: a
    logout after authentication, or the end of an attempt that never
    authenticated."""
    state, user, ip, port, pre = g[at : at + 5]
    if state is None and pre is None:
        return NOISE  # post-auth "Connection closed by <ip> port <n>": the logout line follows
    if ":" in ip:
        ip = canonical_ip(ip)
        if ip is None:
            return UNKNOWN
    port = int(port) if port else None
    if state == "user":
        return _new(Event, (
            LOGOUT, time, host, user, ip, port, None, (), None, None, None,
            None, None, None, None, False, False, ident, pid, source,
        ) + _TAIL)
    return _new(Event, (
        DISCONNECT, time, host, user, ip, port, None, (), None, None, None,
        None, None, None, None, state == "invalid user" or state == "invalid", True, ident, pid, source,
    ) + _TAIL)


def session_event(g: tuple, ident, pid, host, time, source) -> Event | str:
    """From the 8 groups of _STARTING."""
    shell, command, subsys, forced, tty, user, ip, port = g
    ip = _addr(ip)
    if ip is None:
        return UNKNOWN
    detail = None
    if shell:
        session = ev.SHELL
    elif command:
        session = ev.EXEC
    elif subsys is not None:
        session = ev.SFTP if subsys == "sftp" else ev.EXEC
        if subsys != "sftp":
            detail = f"subsystem {subsys}"
    else:
        session = ev.SFTP if _is_sftp_command(forced) else ev.EXEC
        detail = f"forced command {forced}"
    return Event(
        SESSION, time, host, user, ip, int(port), None, (), None, None, None,
        None, session, tty, detail, False, False, ident, pid, source,
    )


def key_found_event(g: tuple, ident, pid, host, time, source) -> Event:
    """From the 3 groups of _KEY_FOUND."""
    ktype, fp, location = g
    return Event(
        KEY_FOUND, time, host, None, None, None, None, (), fp, ktype, None,
        location, None, None, None, False, True, ident, pid, source,
    )


def _is_sftp_command(command: str) -> bool:
    program = command.split(" ", 1)[0]
    return program == "internal-sftp" or program.endswith("/sftp-server")


# The messages that fill the log of a host under brute force, for the syslog
# parser's fast path: it matches line prefix and message in one regex built
# from these same patterns, so both paths give the same result.
# (literal start, pattern matched after it, builder of its groups, the kind
# when the groups do not tell it)
HOT_SHAPES = (
    ("Failed ", _AUTH.pattern, auth_event, FAILURE),
    ("Invalid user ", _INVALID.pattern, invalid_event, None),
    ("Disconnected ", _DISCONNECTED.pattern, ended_event, None),
    ("Connection ", _CLOSED.pattern, ended_event, None),
)
# Noise those hosts log most, every one also a NOISE_PREFIXES entry (or, for
# PAM, not a session line), so the fast path agrees with handler_for.
HOT_NOISE = (
    r"Received disconnect from ",
    r"pam_unix\([^:()]+:(?:auth|account)\): ",
    r"Connection from ",
    r"Disconnecting ",
    r"error: ",
    r"banner exchange: ",
    r"kex_exchange_identification: ",
    r"Unable to negotiate ",
)
