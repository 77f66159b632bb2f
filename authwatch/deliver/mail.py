"""A message as a complete e-mail: a plain-text part and an HTML part, with
the alert's stable id as its Message-ID (so a resend after a crash is
recognisably the same mail), Date, and Auto-Submitted. From and To are the
transport's (SMTP or sendmail) business, set from the target's URL.

The Subject is one line by construction (`inert.clean` shows CR and LF as
`\\x0d`, `\\x0a`), so a user name cannot add a header.
"""

from __future__ import annotations

import functools
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


@functools.cache
def local_domain() -> str:
    """This host's name for Message-IDs and a default From (looked up once:
    it may ask DNS)."""
    return socket.getfqdn() or "localhost"
