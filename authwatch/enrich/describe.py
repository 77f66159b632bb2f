"""Enrichment in words, for terminal blocks, alert reasons and messages.

`reasons(event)` says why a login stands out ("first login from Brazil for
alice"); `attribution(events)` is the credit line a message footer must carry
when it shows data from a database whose licence asks for one (DB-IP Lite:
CC BY 4.0). Values come from logs and databases and are not escaped here:
every output escapes for its own format.
"""

from __future__ import annotations

from collections.abc import Iterable

from authwatch.event import Event, Geo

_SCOPE_WORDS = {
    "private": "private network",
    "loopback": "this machine (loopback)",
    "link-local": "link-local network",
    "cgnat": "carrier-grade NAT (shared address)",
    "reserved": "reserved address (not routed on the internet)",
}


def scope_words(scope: str) -> str:
    """What kind of address a non-public scope is, in words: the same in
    terminal blocks and messages."""
    return _SCOPE_WORDS.get(scope, scope)


def place(geo: Geo | None) -> str | None:
    """"City, Country" (or the part known), None when nothing is."""
    if geo is None:
        return None
    return ", ".join(p for p in (geo.city, geo.country) if p) or None


def where(geo: Geo | None) -> str | None:
    """A place with its country code, or what kind of address it is."""
    if geo is None:
        return None
    if geo.scope != "public":
        return scope_words(geo.scope)
    text = place(geo)
    if text is None:
        return None
    return f"{text} ({geo.country_code})" if geo.country_code else text


def network(geo: Geo | None) -> str | None:
    """"AS28573 Claro NXT"."""
    if geo is None or geo.asn is None:
        return None
    return f"AS{geo.asn} {geo.as_org}" if geo.as_org else f"AS{geo.asn}"


_FLAG_WORDS = {"first_login": "first login", "learning": "learning", "new_ip": "new IP", "new_network": "new network",
               "new_asn": "new ASN", "new_country": "new country", "new_key": "new key"}


def novelty(event: Event) -> str:
    return ", ".join(_FLAG_WORDS.get(flag, flag) for flag in event.novelty) or "nothing new"


def reasons(event: Event) -> list[str]:
    """Why a login stands out, most telling first; empty when nothing does."""
    user = event.user or "?"
    flags = set(event.novelty)
    out = []
    if event.impossible_travel and event.travel:
        t = event.travel
        out.append(f"impossible travel for {user}: {t.km:,} km from {t.start.place or t.start.ip} "
                   f"at {t.kmh:,} km/h")
    if event.after_failures:
        n = event.after_failures
        out.append(f"login after {n:,} failed attempt{'s' if n != 1 else ''}")
    if "first_login" in flags:
        out.append(f"first login for {user}")
    geo = event.geo
    if "new_country" in flags and geo is not None:
        out.append(f"first login from {geo.country or geo.country_code} for {user}")
    elif "new_asn" in flags and geo is not None:
        out.append(f"first login from {network(geo)} for {user}")
    elif "new_network" in flags:
        out.append(f"new network for {user}")
    elif "new_ip" in flags:
        out.append(f"new address for {user}")
    if "new_key" in flags:
        out.append(f"new key for {user}" + (f": {event.key_name}" if event.key_name else ""))
    return out


def attribution(events: Iterable[Event]) -> str | None:
    """The credit line owed for the GeoIP data these events show, if any."""
    for e in events:
        if e.geo is not None and e.geo.attribution:
            return e.geo.attribution
    return None
