"""The public Atom feed: what anyone polling the notifier sees of the network's alerts.

Alerts go through the real gateway and broker to the notifier; the feed lists the public ones
in force (CAP scope Public, status Actual), is valid Atom (RFC 4287's RELAX NG grammar), is
filtered by region and category, answers a poller's If-None-Match with 304 until something
changes, and links each entry to a CAP document anyone may fetch. A real US National Weather
Service warning, sent by an external source, shows there as its issuer wrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import rnc2rng  # type: ignore[import-untyped]
from lxml import etree
from notifier_support import Network, follow_up, meuse_alert, network_on

from schemas import CAP_NAMESPACE, parse_cap_xml, validate_alert

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_RNC = Path(__file__).parents[1] / "data" / "atom" / "atom.rnc"
BLIZZARD = (
    Path(__file__).parents[1]
    / "cap_corpus"
    / "real"
    / "us_nws_blizzard_warning_minnesota_empty_polygon_cap11.xml"
)
NWS = "w-nws.webmaster@noaa.gov"
FEED = "/feeds/alerts.atom"


@functools.cache
def atom_schema() -> etree.RelaxNG:
    """RFC 4287's grammar, compiled. rnc2rng declares the grammar's `namespace local = ""` as
    `xmlns:local=""`, which XML forbids (lxml's from_rnc_string fails on it); the declaration
    is dropped, and `local:*` is written as `nsName ns=""`, which needs none."""
    rng = rnc2rng.dumps(rnc2rng.loads(ATOM_RNC.read_text()))
    return etree.RelaxNG(etree.fromstring(rng.replace('xmlns:local=""', "").encode()))


def invalid_atom(document: etree._Element) -> str | None:
    """Why the document is not Atom; None when it is. The grammar's two Schematron rules,
    which RELAX NG cannot state, are checked here: an author, and an alternate link."""
    schema = atom_schema()
    if not schema.validate(document):
        return str(schema.error_log)
    for entry in document.iter(f"{ATOM}entry"):
        if entry.find(f"{ATOM}author") is None and document.find(f"{ATOM}author") is None:
            return "an entry without an author in a feed without one"
        if (
            not [
                link
                for link in entry.iter(f"{ATOM}link")
                if link.get("rel", "alternate") == "alternate"
            ]
            and entry.find(f"{ATOM}content") is None
        ):
            return "an entry with neither an alternate link nor content"
    return None


def entry_id(alert: dict[str, Any]) -> str:
    return f"urn:crossalert:alert:{alert['sender']},{alert['identifier']}"


def entries(feed: etree._Element) -> dict[str, etree._Element]:
    """The feed's entries by id, in order."""
    return {str(e.findtext(f"{ATOM}id")): e for e in feed.iter(f"{ATOM}entry")}


@dataclass
class World:
    network: Network
    limburg: dict[str, str]
    flood: dict[str, Any]  # public, Liège (BE33), Geo, in French and German
    storm: dict[str, Any]  # public, Zuid-Limburg (NL42), Met
    restricted: dict[str, Any]
    exercise: dict[str, Any]

    @property
    def http(self) -> httpx.AsyncClient:
        return self.network.notifier.http

    async def feed(self, query: str = "") -> etree._Element:
        answer = await self.http.get(FEED + query)
        assert answer.status_code == 200, answer.text
        return etree.fromstring(answer.content)

    async def listed(self, query: str = "") -> set[str]:
        return set(entries(await self.feed(query)))

    async def until_listed(self, check: Callable[[set[str]], bool], query: str = "") -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                while not check(await self.listed(query)):
                    await asyncio.sleep(0.1)
        assert check(listed := await self.listed(query)), listed


def storm_alert() -> dict[str, Any]:
    alert = meuse_alert(sender="meldkamer@vrzl.example.org")
    info = alert["info"][0]
    info.update(language="nl-NL", category=["Met"], event="Storm", headline="Zware storm")
    info["area"] = [
        {"areaDesc": "Zuid-Limburg", "geocode": [{"valueName": "NUTS2", "value": "NL42"}]}
    ]
    return alert


def bilingual_flood() -> dict[str, Any]:
    alert = meuse_alert()
    french = alert["info"][0]
    french["description"] = "La Meuse <monte> & déborde. " * 40  # longer than a summary
    german = {**french, "language": "de-BE", "event": "Hochwasser der Maas",
              "headline": "Die Maas überschreitet in Lüttich die Alarmstufe"}  # fmt: skip
    alert["info"] = [french, german]
    return alert


async def recorded(network: Network, alert: dict[str, Any], headers: dict[str, str]) -> None:
    """Wait until the notifier recorded the alert (its delivery report answers)."""
    for _ in range(400):
        if (await network.report(alert, headers)).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{alert['identifier']} was never recorded")


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[World]:
    async with network_on(tmp_path_factory.mktemp("atom-feed"), kafka_bootstrap) as network:
        limburg = await network.registry.auth("limburg-system", "limburg-secret-123")
        restricted = meuse_alert(scope="Restricted", restriction="Crisis centres only.")
        exercise = meuse_alert(status="Exercise")
        flood, storm = bilingual_flood(), storm_alert()
        for alert in (restricted, exercise, flood):
            await network.post(alert)
        posted = await network.gateway.http.post("/v1/alerts", json=storm, headers=limburg)
        assert posted.status_code == 202, posted.text
        for alert in (restricted, exercise, flood):
            await recorded(network, alert, network.publisher)
        await recorded(network, storm, limburg)
        yield World(network, limburg, flood, storm, restricted, exercise)


async def test_the_feed_is_atom_and_lists_only_public_real_alerts(world: World) -> None:
    answer = await world.http.get(FEED)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = etree.fromstring(answer.content)
    assert invalid_atom(feed) is None
    listed = entries(feed)
    assert {entry_id(world.flood), entry_id(world.storm)} <= set(listed)
    assert entry_id(world.restricted) not in listed
    assert entry_id(world.exercise) not in listed
    # Newest first; the feed is as new as its newest entry; it says where it is read.
    sent = [e.findtext(f"{ATOM}updated") for e in listed.values()]
    assert sent == sorted(sent, reverse=True)
    assert feed.findtext(f"{ATOM}updated") == sent[0]
    [self_link] = feed.findall(f"{ATOM}link[@rel='self']")
    assert self_link.get("href") == f"{world.network.notifier.url}{FEED}"

    # One entry for the bilingual alert, in its first language; markup in text stays text.
    flood = listed[entry_id(world.flood)]
    assert flood.get(XML_LANG) == "fr-BE"
    assert flood.findtext(f"{ATOM}title") == world.flood["info"][0]["headline"]
    assert flood.findtext(f"{ATOM}author/{ATOM}name") == world.flood["sender"]
    summary = flood.findtext(f"{ATOM}summary") or ""
    assert summary.startswith("La Meuse <monte> & déborde.") and summary.endswith("…")
    assert len(summary) <= 500
    terms = {(c.get("scheme"), c.get("term")) for c in flood.iter(f"{ATOM}category")}
    assert terms == {
        (f"{CAP_NAMESPACE}#category", "Geo"),
        (f"{CAP_NAMESPACE}#event", "Crue de la Meuse"),
    }
    published = flood.findtext(f"{ATOM}published") or ""
    assert datetime.fromisoformat(published) == datetime.fromisoformat(world.flood["sent"])


async def test_the_schema_refuses_a_feed_missing_a_required_element(world: World) -> None:
    feed = await world.feed()
    assert invalid_atom(feed) is None

    without_entry_id = etree.fromstring(etree.tostring(feed))
    entry = next(without_entry_id.iter(f"{ATOM}entry"))
    entry.remove(entry.find(f"{ATOM}id"))
    without_updated = etree.fromstring(etree.tostring(feed))
    without_updated.remove(without_updated.find(f"{ATOM}updated"))
    without_link = etree.fromstring(etree.tostring(feed))
    entry = next(without_link.iter(f"{ATOM}entry"))
    entry.remove(entry.find(f"{ATOM}link"))

    assert invalid_atom(without_entry_id) is not None
    assert invalid_atom(without_updated) is not None
    assert invalid_atom(without_link) is not None


@pytest.mark.parametrize(
    ("query", "flood", "storm"),
    [
        ("?region=BE", True, False),  # BE33 lies in BE
        ("?region=BE336", True, False),  # an alert for all of BE33 covers BE336
        ("?region=NL42", False, True),
        ("?region=BE33&region=NL42", True, True),
        ("?region=LU", False, False),
        ("?category=Met", False, True),
        ("?category=Geo&category=Met", True, True),
        ("?region=BE&category=Met", False, False),
    ],
)
async def test_region_and_category_select_entries(
    world: World, query: str, flood: bool, storm: bool
) -> None:
    feed = await world.feed(query)

    assert invalid_atom(feed) is None
    listed = set(entries(feed))
    assert (entry_id(world.flood) in listed, entry_id(world.storm) in listed) == (flood, storm)
    assert entry_id(world.restricted) not in listed
    # The same selection is the same feed, however its query is written.
    assert feed.findtext(f"{ATOM}id") == (await world.feed(_reordered(query))).findtext(f"{ATOM}id")


def _reordered(query: str) -> str:
    return "?" + "&".join(reversed(query.removeprefix("?").split("&")))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?region=be33", "region"),
        ("?region=Liège", "region"),
        ("?category=Weather", "category"),
        ("?" + "&".join(f"region=BE{n}" for n in range(21)), "region"),
    ],
)
async def test_a_bad_filter_is_refused_with_a_problem(world: World, query: str, field: str) -> None:
    answer = await world.http.get(FEED + query)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.json()["field"]


async def test_a_poller_gets_304_until_the_feed_changes(world: World) -> None:
    first = await world.http.get(FEED)
    tag = first.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert first.headers["cache-control"].startswith("public, max-age=")

    again = await world.http.get(FEED, headers={"If-None-Match": tag})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag

    # A new public alert: a new ETag, and the entry in the feed.
    new = meuse_alert()
    await world.network.post(new)
    await world.until_listed(lambda ids: entry_id(new) in ids)
    changed = await world.http.get(FEED, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag

    # Its update replaces it; its cancellation takes the incident out of the feed.
    update = follow_up(new, "Update")
    await world.network.post(update)
    await world.until_listed(lambda ids: entry_id(update) in ids and entry_id(new) not in ids)
    cancel = follow_up(update, "Cancel")
    await world.network.post(cancel)
    await world.until_listed(lambda ids: not {entry_id(update), entry_id(cancel)} & ids)


async def test_each_entry_links_to_its_cap_document_and_only_public_ones_are_served(
    world: World,
) -> None:
    listed = entries(await world.feed())
    sent = {entry_id(a): a for a in (world.flood, world.storm)}

    for key, alert in sent.items():
        [link] = listed[key].findall(f"{ATOM}link[@rel='alternate']")
        assert link.get("type") == "application/cap+xml"
        document = await world.http.get(urlsplit(str(link.get("href"))).path)
        assert document.status_code == 200, document.text
        assert document.headers["content-type"] == "application/cap+xml"
        assert parse_cap_xml(document.content) == validate_alert(alert)
        unchanged = await world.http.get(
            urlsplit(str(link.get("href"))).path,
            headers={"If-None-Match": document.headers["etag"]},
        )
        assert unchanged.status_code == 304

    for alert in (world.restricted, world.exercise, meuse_alert()):
        hidden = await world.http.get(f"/feeds/cap/{alert['sender']}/{alert['identifier']}.xml")
        assert hidden.status_code == 404, hidden.text
        assert hidden.headers["content-type"] == "application/problem+json"
        assert hidden.json()["code"] == "unknown_alert"


def blizzard_now() -> bytes:
    """The National Weather Service's blizzard warning (CAP 1.1, an empty polygon), its times
    moved to today so that it is in force; every other byte is the issuer's."""
    document = BLIZZARD.read_bytes()
    now = datetime.now(UTC).astimezone().replace(microsecond=0)
    for old, new in [
        (b"2021-12-27T10:08:00-06:00", now),
        (b"2021-12-27T18:00:00-06:00", now + timedelta(hours=8)),
    ]:
        document = document.replace(old, new.isoformat().encode())
    return document


async def test_an_external_sources_real_warning_is_in_the_feed_as_its_issuer_sent_it(
    world: World,
) -> None:
    network = world.network
    admin = await network.registry.auth("admin", "admin-secret-123")
    record = await network.registry.http.get("/v1/organisations/fr-metz", headers=admin)
    body = {k: v for k, v in record.json().items() if k != "version"}
    changed = await network.registry.http.put(
        "/v1/organisations/fr-metz",
        json={**body, "cap_mode": "ingest", "cap_sender": NWS},
        headers={**admin, "If-Match": record.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    source = await network.registry.auth("metz-system", "metz-secret-123")
    document = blizzard_now()

    answer = await network.gateway.http.post(
        "/v1/alerts", content=document, headers={**source, "Content-Type": "application/cap+xml"}
    )

    assert answer.status_code == 202, answer.text
    identifier = identifier_of(document)
    key = f"urn:crossalert:alert:{NWS},{identifier}"
    await world.until_listed(lambda ids: key in ids, "?category=Met")
    feed = await world.feed("?category=Met")
    assert invalid_atom(feed) is None
    entry = entries(feed)[key]
    assert entry.findtext(f"{ATOM}title", "").startswith("Blizzard Warning issued December 27")
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == (
        "NWS Duluth (Northeast Minnesota and Northern Wisconsin)"
    )
    assert entry.get(XML_LANG) == "en-US"  # CAP's default: the warning names no language
    [link] = entry.findall(f"{ATOM}link[@rel='alternate']")
    kept = await world.http.get(urlsplit(str(link.get("href"))).path)
    assert kept.status_code == 200, kept.text
    assert kept.content == document


def identifier_of(document: bytes) -> str:
    """The identifier of a document of any CAP version."""
    root = etree.fromstring(document)
    return str(root.findtext("{*}identifier"))
