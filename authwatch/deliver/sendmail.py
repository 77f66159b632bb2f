"""`sendmail://`: mail through the local sendmail program, as an Apprise URL.

Registered with Apprise's custom-notification decorator when this module is
imported, so `sendmail://` works wherever authwatch takes an Apprise URL:

    sendmail://                                  -> To: root (the local mailbox)
    sendmail://ops@example.com                   -> To: ops@example.com
    sendmail://ops@example.com/sec@example.com   -> two recipients
    sendmail://?to=a@example.com,b@example.com&from=authwatch@web1.example.com&bin=/usr/sbin/sendmail

The complete message (From, To, Subject, Date, Message-ID, text and HTML
parts) is written to `BIN -t -oi` on its standard input: no shell, and the
recipients are read from the headers, never passed as arguments. authwatch
hands over the message it composed (`mail.compose`) as a `message/rfc822`
attachment; any other caller's title and body become a plain-text mail. A
non-zero exit, a program that cannot be run, or one still running after
`?timeout=` seconds (default 10) is a failure, with the program's own words:
logged to Apprise's log as one warning, `sendmail: /usr/sbin/sendmail exited
with status 75: ...` (what `SendmailTarget` reports), rather than raised,
which Apprise would show as its wrapper class's exception.
"""

from __future__ import annotations

import email
import os
import shutil
import stat
import subprocess
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from apprise.decorators import notify
from apprise.logger import logger as apprise_log

from authwatch.deliver.mail import local_domain

DEFAULT_BIN = "/usr/sbin/sendmail"
DEFAULT_TIMEOUT = 10.0
SCHEME = "sendmail"
ERROR_PREFIX = "sendmail: "  # begins the warning logged when sendmail fails


class SendmailError(Exception):
    pass


@notify(on=SCHEME, name="Local sendmail (authwatch)")
def send(body: str, title: str, notify_type: str, *args: Any, meta: dict | None = None, attach: Any = None,
         **kwargs: Any) -> bool:
    meta = meta or {}
    qsd = meta.get("qsd") or {}
    prepared = [a for a in attach or () if a.mimetype == "message/rfc822"]
    if prepared:
        with prepared[0].open() as f:
            mail = email.message_from_bytes(f.read(), policy=policy.default)
    else:
        mail = EmailMessage()
        mail["Subject"] = " ".join((title or "").split())
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain=local_domain())
        mail.set_content(body)
    del mail["From"], mail["To"]
    mail["From"] = qsd.get("from") or f"authwatch@{local_domain()}"
    mail["To"] = ", ".join(recipients(meta))
    try:
        run(qsd.get("bin") or DEFAULT_BIN, mail.as_bytes(), float(qsd.get("timeout") or DEFAULT_TIMEOUT))
    except SendmailError as e:
        apprise_log.warning("%s%s", ERROR_PREFIX, e)
        return False
    return True


def recipients(meta: dict) -> list[str]:
    found = []
    if meta.get("user") and meta.get("host"):
        found.append(f"{meta['user']}@{meta['host']}")
    found += [p for p in (meta.get("fullpath") or "").split("/") if p]
    found += [a.strip() for a in ((meta.get("qsd") or {}).get("to") or "").split(",") if a.strip()]
    return found or ["root"]


def problem(program: str) -> str | None:
    """Why `program` cannot be run as sendmail (for `authwatch check`), or
    None. A bare name is looked for in PATH, as running it would."""
    if "/" not in program:
        return None if shutil.which(program) else f"{program} is not found in PATH"
    try:
        st = os.stat(program)
    except OSError as e:
        return f"{program}: {e.strerror or e}"
    if not stat.S_ISREG(st.st_mode):
        return f"{program} is not a program (not a regular file)"
    if not st.st_mode & 0o111 or not os.access(program, os.X_OK):  # root may "access" a file no x bit allows
        return f"{program} is not executable (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def run(program: str, message: bytes, timeout: float) -> None:
    """`program -t -oi` with `message` on its standard input."""
    try:
        done = subprocess.run([program, "-t", "-oi"], input=message, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SendmailError(f"{program} did not finish within {timeout:g} s") from None
    except OSError as e:
        raise SendmailError(f"cannot run {program}: {e.strerror or e}") from None
    if done.returncode != 0:
        said = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        raise SendmailError(f"{program} exited with status {done.returncode}" + (f": {said}" if said else ""))
