"""Targets: where messages go, one per configured Apprise URL.

* `mailto://` and `mailtos://`: the URL is read by Apprise's e-mail plugin
  (so every form it knows works: `?to=`, `?from=`, `?cc=`, `?mode=starttls|ssl`,
  provider shortcuts such as `mailtos://user:pass@gmail.com`), but the mail is
  composed here (`mail.compose`: text and HTML parts, the alert id as
  Message-ID, which Apprise's plugin cannot set) and sent with smtplib, so a
  failure is reported with the server's exact words. Port 465 without an
  explicit `?mode=` means implicit TLS (Apprise would try STARTTLS there).
* `sendmail://`: Apprise's custom plugin in `sendmail.py`, handed the same
  composed mail.
* anything else: Apprise's plugin for it, always with text input
  (`body_format=TEXT`: Slack then escapes `<`, `>`, `&` and turns markup off;
  HTML and Markdown services get escaped text). Services that render plain
  text as Markdown (Mattermost, Discord, Zulip, ...) get it escaped here first.
  Webhooks (`json://`, `form://`, `xml://`) get the alert id as an
  `Idempotency-Key` header.

Every call is bounded by the target's `timeout` (Apprise's `?cto=`/`?rto=` in
the URL win) and runs in the caller's thread (Apprise's own thread pool is
never used: its threads would hold the process open at exit). Errors are one
line, with anything that looks like a secret of the URL replaced by `***`
however it was percent-encoded again; the URL itself is never shown, nor the
path urllib3 names ("with url: ..."). Apprise's own log, whose debug lines
hold the URL and the payload, is kept out of authwatch's log.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import formataddr
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlsplit

import apprise
from apprise import Apprise, AppriseAsset, NotifyFormat
from apprise.attachment.memory import AttachMemory
from apprise.plugins.email import NotifyEmail
from apprise.plugins.slack import NotifySlack

from authwatch.config import Settings
from authwatch.config import scrub, url_secrets
from authwatch.deliver import mail, sendmail
from authwatch.deliver.message import Message
from authwatch.errors import ConfigError

ASSET = AppriseAsset(
    app_id="authwatch",
    app_desc="authwatch: SSH login alerts",
    body_format=NotifyFormat.TEXT,
    service_timeout=0,  # run in the calling thread, never in Apprise's pool
    async_mode=False,
)
# Services whose plugin sends plain text that the service renders as Markdown,
# with @mentions (checked by class name so that no plugin module is imported).
MARKDOWN_SERVICES = {"NotifyMattermost", "NotifyDiscord", "NotifyGuilded", "NotifyZulip", "NotifyRevolt",
                     "NotifyRyver", "NotifyFlock"}
WEBHOOKS = {"NotifyJSON", "NotifyForm", "NotifyXML"}

_apprise_log = logging.getLogger("apprise")
_apprise_log.setLevel(logging.DEBUG)  # captured per call, for the exact error
_apprise_log.propagate = False
_apprise_log.addHandler(logging.NullHandler())


class DeliveryError(Exception):
    """A message did not get through; the text says why (no secrets)."""


class Target:
    """One configured target."""

    def __init__(self, name: str, url: str, timeout: float, rate_limit: int):
        self.name = name
        self.timeout = timeout
        self.rate_limit = rate_limit
        self._secrets = url_secrets(url)

    def send(self, message: Message) -> None:
        """Deliver `message` or raise DeliveryError."""
        raise NotImplementedError

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)


class AppriseTarget(Target):
    def __init__(self, name: str, url: str, timeout: float, rate_limit: int, plugin: Any):
        super().__init__(name, url, timeout, rate_limit)
        query = {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}
        if "cto" not in query:
            plugin.socket_connect_timeout = timeout
        if "rto" not in query:
            plugin.socket_read_timeout = timeout
        classes = {cls.__name__ for cls in type(plugin).__mro__}
        self.flavour = "slack" if isinstance(plugin, NotifySlack) else \
            "markdown" if classes & MARKDOWN_SERVICES else "text"
        self._plugin = plugin
        self._webhook = bool(classes & WEBHOOKS)
        self._apprise = Apprise(asset=ASSET)
        self._apprise.add(plugin)

    def send(self, message: Message) -> None:
        title, body = message.markdown() if self.flavour == "markdown" else (message.subject, message.text())
        if self._webhook:
            self._plugin.headers["Idempotency-Key"] = message.key
        result = self._apprise.notify(title=title, body=body, body_format=NotifyFormat.TEXT,
                                      notify_type=message.notify_type, attach=self._attachments(message),
                                      log_level=logging.DEBUG)
        if not result:
            raise DeliveryError(self.scrub(self._error(result)))

    def _attachments(self, message: Message) -> Any:
        return None

    def _error(self, result: Any) -> str:
        return _apprise_error(result)


class SendmailTarget(AppriseTarget):
    """sendmail:// with the mail composed here, handed over as message/rfc822."""

    def __init__(self, name: str, url: str, timeout: float, rate_limit: int, plugin: Any):
        super().__init__(name, url, timeout, rate_limit, plugin)
        query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
        self.program = query.get("bin") or sendmail.DEFAULT_BIN  # build_one adds delivery.sendmail

    def _attachments(self, message: Message) -> Any:
        return AttachMemory(content=mail.compose(message).as_bytes(), name="alert.eml", mimetype="message/rfc822")

    def _error(self, result: Any) -> str:
        """The plugin's own warning (`sendmail: PROGRAM exited with status
        75: ...`) without Apprise's "Failed to send ..." beside it."""
        for service in result:
            for entry in service.logs():
                if entry.message.startswith(sendmail.ERROR_PREFIX):
                    return " ".join(entry.message.split())[:1000]
        return _apprise_error(result)


class SmtpTarget(Target):
    def __init__(self, name: str, url: str, timeout: float, rate_limit: int, plugin: NotifyEmail):
        super().__init__(name, url, timeout, rate_limit)
        query = {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}
        self.host, self.port = plugin.smtp_host, plugin.port
        self.mode = "ssl" if self.port == 465 and "mode" not in query else plugin.secure_mode
        self.user, self.password = plugin.user, plugin.password
        self.verify = plugin.verify_certificate
        self.sender = (plugin.from_addr[0] or None, plugin.from_addr[1])
        self.to = [(n or None, a) for n, a in plugin.targets]
        self.cc = sorted(plugin.cc - {a for _, a in self.to})
        self.bcc = sorted(plugin.bcc)
        self.headers = dict(plugin.headers)
        self.timeout = plugin.socket_connect_timeout if "cto" in query else timeout

    def send(self, message: Message) -> None:
        m = mail.compose(message, mail.domain_of(self.sender[1]))
        m["From"] = formataddr(self.sender)
        m["To"] = ", ".join(formataddr(t) for t in self.to)
        if self.cc:
            m["Cc"] = ", ".join(self.cc)
        for key, value in self.headers.items():
            if key.lower() not in {k.lower() for k in m.keys()}:
                m[key] = value
        where = f"smtp {self.host}:{self.port} ({self.mode})"
        try:
            context = ssl.create_default_context()
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.mode == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.mode == "starttls":
                    smtp.starttls(context=context)
                if self.user and self.password:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(m, self.sender[1], [a for _, a in self.to] + self.cc + self.bcc)
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(self.scrub(f"{where}: {_describe(e)}")) from None
        if refused:
            logging.getLogger(__name__).warning(
                "target %s: %s refused %s", self.name, where,
                self.scrub(", ".join(f"{a} ({code} {_text(said)})" for a, (code, said) in refused.items())))


def build(settings: Settings) -> dict[str, Target]:
    """A Target for each configured target; a ConfigError names every one
    that Apprise cannot use (with the reason, never the URL)."""
    targets: dict[str, Target] = {}
    problems = []
    for name, spec in settings.targets.items():
        try:
            targets[name] = build_one(name, spec, settings)
        except ValueError as e:
            problems.append(f"{spec.get('where', name)}: targets.{name}: {e}")
    if problems:
        raise ConfigError(problems)
    return targets


def build_one(name: str, spec: Mapping[str, Any], settings: Settings) -> Target:
    d = settings.delivery
    url = spec["url"]
    timeout = spec.get("timeout", d.timeout)
    rate_limit = spec.get("rate_limit", d.rate_limit)
    scheme = url.split("://", 1)[0].lower()
    if scheme == sendmail.SCHEME:
        url = _with_query(url, bin=d.sendmail, timeout=f"{timeout:g}")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(levelname)s %(message)s") as log:
        plugin = Apprise.instantiate(url, asset=ASSET)
    if plugin is None:
        raise ValueError(_load_error(scheme, log.getvalue(), url_secrets(url)))
    if isinstance(plugin, NotifyEmail):
        return SmtpTarget(name, url, timeout, rate_limit, plugin)
    cls = SendmailTarget if scheme == sendmail.SCHEME else AppriseTarget
    return cls(name, url, timeout, rate_limit, plugin)


def _with_query(url: str, **defaults: str) -> str:
    """`url` with each of `defaults` added to its query unless it has it."""
    query = {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in defaults.items() if k not in query)
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + extra


def _load_error(scheme: str, log: str, secrets: list[str]) -> str:
    reasons = []
    for line in log.splitlines():
        level, _, text = line.partition(" ")
        if text.startswith("Unparseable URL"):
            return f"no Apprise service has the scheme {scheme}://"
        if level == "WARNING":
            # Apprise quotes the offending value in brackets: a token, a key
            # (keep a plain word such as "(third)", which says which part).
            reasons.append(_QUOTED.sub(lambda m: m.group() if _WORD.fullmatch(m.group()) else "(…)", text))
    reason = scrub("; ".join(reasons) or "a part of it is missing or malformed", secrets)
    if scheme.startswith("mailto") and "Invalid ~From~ email" in reason:
        reason = reason.rstrip() + (" (without ?from=, the From address is made from the URL's user and host, and an IP address "
                   "is no mail domain: give one, such as ?from=alerts@example.com)")
    return f"Apprise cannot use this {scheme}:// URL: {reason}"


_QUOTED = re.compile(r"\([^()]*\)")
_WORD = re.compile(r"\([a-z ]{1,12}\)")


def _apprise_error(result: Any) -> str:
    """The warnings and exception details Apprise logged while failing."""
    said = []
    for service in result:
        for entry in service.logs():
            text = " ".join(entry.message.split())
            if entry.level in ("WARNING", "ERROR", "CRITICAL") or "Exception" in text or "Response Details" in text:
                text = _WITH_URL.sub("", _socket_reason(text))
                if text not in said:
                    said.append(text)
    return ("; ".join(said) or f"failed ({result.status.name.lower()})")[:1000]


# urllib3's "Max retries exceeded with url: /PATH?QUERY": the URL as it quoted it
_WITH_URL = re.compile(r" with url: \S*")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")
_TIMED_OUT = re.compile(r"(?:Read|Connect(?:ion)?)\b[^'\"]*?timed out(?:\. \((?:read|connect) timeout=[\d.]+\))?",
                        re.IGNORECASE)


def _socket_reason(text: str) -> str:
    """The heart of a requests/urllib3 exception text: `[Errno 111]
    Connection refused` or `Read timed out. (read timeout=4.0)`."""
    if not text.startswith("Socket Exception:"):
        return text
    found = _ERRNO.search(text) or _TIMED_OUT.search(text)
    return f"Socket Exception: {found.group().strip()}" if found else text


def _describe(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{e.smtp_code} {_text(e.smtp_error)}"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "every recipient refused: " + ", ".join(
            f"{a} ({code} {_text(said)})" for a, (code, said) in e.recipients.items())
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _text(said: Any) -> str:
    return " ".join((said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)).split())


class Outcome(NamedTuple):
    target: str
    error: str | None  # None: delivered
    seconds: float


def try_each(targets: Mapping[str, Target], message: Callable[[Target], Message]) -> list[Outcome]:
    """Send `message(target)` to every target at once, each in a daemon
    thread; one that does not answer in its timeout (twice, for connect and
    read, plus a margin) is reported as such and left behind."""
    outcomes: dict[str, Outcome] = {}

    def attempt(target: Target) -> None:
        start = time.monotonic()
        try:
            target.send(message(target))
            error = None
        except DeliveryError as e:
            error = str(e)
        except Exception as e:  # a plugin's bug is reported like any failure
            error = target.scrub(f"unexpected {type(e).__name__}: {e}")
        outcomes[target.name] = Outcome(target.name, error, time.monotonic() - start)

    threads = {name: threading.Thread(target=attempt, args=(t,), daemon=True) for name, t in targets.items()}
    began = time.monotonic()
    for thread in threads.values():
        thread.start()
    end = began + max((t.timeout for t in targets.values()), default=0) * 2 + 5
    for thread in threads.values():
        thread.join(max(0.0, end - time.monotonic()))
    return [outcomes.get(name) or Outcome(name, "no answer in time (gave up waiting)", time.monotonic() - began)
            for name in targets]
