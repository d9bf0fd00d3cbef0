"""Reading a feed of CAP alerts (Atom or RSS 2.0): its entries, and where each one's CAP is.

Pure functions over bytes, read with the same hardened parser as CAP documents (no DTD,
entities, XInclude or network); the caller bounds the size.

An entry's CAP document is embedded (an Atom `content` holding a CAP `alert` element) or
linked. Of an Atom entry's links, one typed `application/cap+xml` is taken first (whatever its
`rel`: a feed of the network's own notifier, MeteoAlarm, NAAD), then an enclosure, then the
alternate link, leaving out links typed as something other than XML (an HTML page). Of an RSS
item: an enclosure typed as CAP or XML, else its `link`. Relative links are resolved against
the feed's address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml import etree

from schemas.cap import CAP_NAMESPACE
from schemas.cap_ingest import CAP11_NAMESPACE
from schemas.cap_xml import document_root
from schemas.errors import CapValidationError

ATOM = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
XML_MEDIA_TYPES = frozenset({CAP_MEDIA_TYPE, "application/xml", "text/xml"})
CAP_NAMESPACES = frozenset({CAP_NAMESPACE, CAP11_NAMESPACE, "http://www.incident.com/cap/1.0"})
_A = f"{{{ATOM}}}"


class UnreadableFeed(Exception):
    """The document is not an Atom feed or an RSS 2.0 channel we may read."""


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed: who it is, when it last changed, and its CAP document's place."""

    id: str
    updated: str
    link: str | None = None
    """The CAP document's absolute http(s) address, when it is linked."""
    embedded: bytes | None = None
    """The CAP alert element as the feed holds it, when it is embedded."""

    @property
    def key(self) -> str:
        """The entry at this `updated` time: a changed entry is read again."""
        return hashlib.sha256(f"{self.id}\n{self.updated}".encode()).hexdigest()


def read_feed(document: bytes, feed_url: str) -> list[FeedEntry]:
    """The entries of an Atom feed or RSS 2.0 channel, in the feed's order; UnreadableFeed
    when it is neither (or not well-formed, or tries a DTD)."""
    try:
        root = document_root(document)
    except CapValidationError as exc:
        raise UnreadableFeed(str(exc)) from None
    if root.tag == f"{_A}feed":
        entries = [_atom_entry(e, feed_url) for e in root.iterchildren(f"{_A}entry")]
    elif root.tag == "rss" and (channel := root.find("channel")) is not None:
        entries = [_rss_item(item, feed_url) for item in channel.iterchildren("item")]
    else:
        raise UnreadableFeed(f"neither an Atom feed nor an RSS 2.0 channel: <{root.tag}>")
    return [entry for entry in entries if entry is not None]


def _atom_entry(entry: etree._Element, feed_url: str) -> FeedEntry | None:
    embedded = _embedded_alert(entry.find(f"{_A}content"))
    link = _atom_link(entry, feed_url)
    entry_id = _text(entry.find(f"{_A}id")) or link
    if entry_id is None or (embedded is None and link is None):
        return None  # nothing to key it by, or no CAP to bring in
    updated = _text(entry.find(f"{_A}updated")) or _text(entry.find(f"{_A}published")) or ""
    return FeedEntry(entry_id, updated, link=None if embedded else link, embedded=embedded)


def _atom_link(entry: etree._Element, feed_url: str) -> str | None:
    ranked = sorted(
        (rank, position, href)
        for position, link in enumerate(entry.iterchildren(f"{_A}link"))
        if (href := link.get("href"))
        and (rank := _rank(link.get("rel", "alternate"), _media_type(link.get("type")))) is not None
    )
    return _absolute(ranked[0][2], feed_url) if ranked else None


def _rank(rel: str, media_type: str) -> int | None:
    """How fit an Atom link is to hold the entry's CAP: lower is better; None, not at all."""
    if media_type == CAP_MEDIA_TYPE:
        return 0
    if media_type and media_type not in XML_MEDIA_TYPES and not media_type.endswith("+xml"):
        return None  # an HTML page, an image
    return {"enclosure": 1, "alternate": 2}.get(rel)


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _rss_item(item: etree._Element, feed_url: str) -> FeedEntry | None:
    enclosures = [
        e.get("url")
        for e in item.iterchildren("enclosure")
        if _media_type(e.get("type")) in XML_MEDIA_TYPES
    ]
    href = next((url for url in enclosures if url), None) or _text(item.find("link"))
    link = _absolute(href, feed_url) if href else None
    entry_id = _text(item.find("guid")) or link
    if entry_id is None or link is None:
        return None
    return FeedEntry(entry_id, _text(item.find("pubDate")) or "", link=link)


def _embedded_alert(content: etree._Element | None) -> bytes | None:
    if content is None:
        return None
    for child in content.iterchildren(etree.Element):
        name = etree.QName(child)
        if name.localname == "alert" and name.namespace in CAP_NAMESPACES:
            document: bytes = etree.tostring(child, encoding="UTF-8", xml_declaration=True)
            return document
    return None


def _absolute(href: str, feed_url: str) -> str | None:
    url = urljoin(feed_url, href.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def _text(element: etree._Element | None) -> str | None:
    text = (element.text or "").strip() if element is not None else ""
    return text or None


class NotCap(Exception):
    """A linked or embedded document that is not a CAP alert (not XML, a DTD, another root)."""


def cap_identity(document: bytes) -> tuple[str, str] | None:
    """The (sender, identifier) a CAP alert names; None when it lacks either (the gateway
    says what is wrong with it); NotCap when it is no CAP alert at all."""
    try:
        root = document_root(document)
    except CapValidationError as exc:
        raise NotCap(str(exc)) from None
    name = etree.QName(root)
    if name.localname != "alert" or name.namespace not in CAP_NAMESPACES:
        raise NotCap(f"the document is <{root.tag}>, not a CAP alert")
    sender = _text(root.find(f"{{{name.namespace}}}sender"))
    identifier = _text(root.find(f"{{{name.namespace}}}identifier"))
    return (sender, identifier) if sender and identifier else None
