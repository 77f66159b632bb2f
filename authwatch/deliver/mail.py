"""A message as a complete e-mail: a plain-text part and an HTML part, with
the alert's stable id as its Message-ID (so a resend after a crash is
recognisably the same mail), Date, and Auto-Submitted. From and To are the
transport's (SMTP or sendmail) business, set from the target's URL.

The Subject is one line by construction (`inert.clean` shows CR and LF as
`\\x0d`, `\\x0a`), so a user name cannot add a header.
"""

from __future__ import annotations

import functools
import re
import socket
from email.message import EmailMessage
from email.utils import formatdate

from authwatch import __version__
from authwatch.deliver.message import Message


def compose(message: Message, domain: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = f"<{message.key}.authwatch@{domain or local_domain()}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Mailer"] = f"authwatch {__version__}"
    mail.set_content(message.text())
    mail.add_alternative(message.html(), subtype="html")
    return mail


def domain_of(address: str) -> str | None:
    """`example.com` of `alerts@example.com`; None without a domain."""
    _, at, domain = address.rpartition("@")
    return domain if at and domain else None


MAILNAME = "/etc/mailname"  # Debian's: the domain this host's mail comes from


@functools.cache
def local_domain() -> str:
    """This host's name for Message-IDs and a default From, found without a
    lookup (reverse DNS, opt-in, stays the one network lookup authwatch
    makes; socket.getfqdn() may ask DNS, and often answers `localhost`): the
    host name if it is qualified, else /etc/mailname, else the bare host name."""
    host = socket.gethostname().strip().rstrip(".")
    if "." in host and _is_name(host):
        return host
    try:
        with open(MAILNAME, encoding="ascii") as f:
            mailname = f.readline().strip().rstrip(".")
    except (OSError, UnicodeDecodeError):
        mailname = ""
    if _is_name(mailname):
        return mailname
    return host if _is_name(host) else "localhost"


_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _is_name(name: str) -> bool:
    """A DNS name fit for a Message-ID or an address (LDH labels)."""
    return bool(name) and all(_LABEL.fullmatch(label) for label in name.split("."))
