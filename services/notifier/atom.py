"""The public alerts as an Atom 1.0 feed (RFC 4287): alerts in, the feed document's bytes out.

One entry per alert message, not one per info block: an aggregator counts entries as alerts and
follows each entry's link to the CAP document, which carries every language. The entry speaks
the first info block's language (the issuer's first, by CAP's order) and says so in xml:lang.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from lxml import etree

from schemas.cap import CAP_NAMESPACE, Alert, Info

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
CAP_MEDIA_TYPE = "application/cap+xml"
CATEGORY_SCHEME = f"{CAP_NAMESPACE}#category"
EVENT_SCHEME = f"{CAP_NAMESPACE}#event"
SUMMARY_CHARS = 500
"""A summary is a glance: the description is cut here, and the CAP document holds it whole."""
EMPTY_FEED_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)
"""An empty feed's `updated`: fixed, so that an empty feed's bytes (and ETag) never change."""

_A = f"{{{ATOM_NAMESPACE}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class FeedHead:
    """What names the feed itself: its permanent id, its title and the URL it is read at."""

    id: str
    title: str
    self_url: str


def entry_id(alert: Alert) -> str:
    """The permanent id of an alert's entry: its sender and identifier, as CAP names it."""
    return f"urn:crossalert:alert:{quote(alert.sender, safe='@')},{quote(alert.identifier)}"


def feed_document(
    alerts: Sequence[Alert], head: FeedHead, cap_url: Callable[[Alert], str]
) -> bytes:
    """The Atom feed of `alerts`, in the order given; `cap_url` links each to its document.

    The bytes depend on the alerts and `head` only, so that every notifier process answers a
    poll with the same ones (and the same ETag)."""
    feed = etree.Element(f"{_A}feed", nsmap={None: ATOM_NAMESPACE})
    _text(feed, "id", head.id)
    _text(feed, "title", head.title)
    updated = max((alert.sent for alert in alerts), default=EMPTY_FEED_UPDATED)
    _text(feed, "updated", _date(updated))
    etree.SubElement(feed, f"{_A}link", rel="self", type=ATOM_MEDIA_TYPE, href=head.self_url)
    for alert in alerts:
        feed.append(_entry(alert, cap_url(alert)))
    document: bytes = etree.tostring(feed, xml_declaration=True, encoding="UTF-8")
    return document


def _entry(alert: Alert, cap_url: str) -> etree._Element:
    info: Info | None = alert.info[0] if alert.info else None
    entry = etree.Element(f"{_A}entry")
    if info is not None:
        entry.set(_XML_LANG, info.language)
    _text(entry, "id", entry_id(alert))
    _text(entry, "title", _title(alert, info))
    _text(entry, "updated", _date(alert.sent))
    _text(entry, "published", _date(alert.sent))
    author = etree.SubElement(entry, f"{_A}author")
    _text(author, "name", (info.sender_name if info else None) or alert.sender)
    if info is not None and info.description:
        _text(entry, "summary", _shortened(info.description), type="text")
    for category in dict.fromkeys(c for block in alert.info for c in block.category):
        etree.SubElement(entry, f"{_A}category", term=category, scheme=CATEGORY_SCHEME)
    if info is not None:
        etree.SubElement(entry, f"{_A}category", term=info.event, scheme=EVENT_SCHEME)
    etree.SubElement(entry, f"{_A}link", rel="alternate", type=CAP_MEDIA_TYPE, href=cap_url)
    return entry


def _title(alert: Alert, info: Info | None) -> str:
    if info is None:  # CAP allows an alert without info; it still has an identity
        return f"{alert.msg_type} {alert.identifier}"
    return info.headline or info.event


def _shortened(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= SUMMARY_CHARS:
        return text
    return text[: SUMMARY_CHARS - 1].rstrip() + "…"


def _date(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC, as Atom's date constructs want it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(parent: etree._Element, name: str, value: str, **attributes: str) -> None:
    # lxml escapes the text: an issuer's "<" or "&" stays text, never markup.
    child = etree.SubElement(parent, f"{_A}{name}", **attributes)
    child.text = value
