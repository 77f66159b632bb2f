"""Delivery of the outbox to the configured targets.

    delivery.py   Delivery (the component run/scan/replay use) and Courier (one target's share)
    targets.py    Apprise URLs -> targets: SMTP, sendmail://, any Apprise service
    sendmail.py   the sendmail:// Apprise plugin
    message.py    alert -> message (text, HTML, Markdown); digests, notices, tests
    mail.py       message -> complete e-mail
    inert.py      untrusted text made inert for each format
    rdns.py       opt-in reverse DNS, bounded and cached
    health.py     heartbeat, failing target, silent source
    view.py       `authwatch outbox` as text

Importing this package imports nothing heavy; `targets` (and so `delivery`)
imports Apprise.
"""
