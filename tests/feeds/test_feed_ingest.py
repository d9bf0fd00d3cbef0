"""External sources' CAP feeds brought into the network by the feed ingest worker.

The test serves, on loopback, the feeds of three North American authorities (real documents
of tests/cap_corpus/real: Environment Canada's bilingual statement embedded in an Atom feed,
the NAAD System's doubly signed warning linked from another, US National Weather Service CAP
1.1 alerts listed in an RSS index shaped as NY-Alert's), and a Liège feed linking a 1.7 MB
alert. Each authority is registered as an external source (cap_mode ingest) acting for a
region of its own country, with no outline in the network's NUTS data: their alerts' areas lie
in North America, so they are routed by an agreement binding each source to Belgium's national
crisis centre, whose duty officer's console is watched.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from feed_support import (
    Entry,
    FeedServer,
    atom_feed,
    feed_server,
    real,
    rss_feed,
    running_feed_ingest,
)
from gateway_support import envelopes_on
from notifier_support import (
    FLOOD_RECIPIENTS,
    free_port,
    ids,
    many_polygons,
    meuse_alert,
    network_on,
    quiet,
)
from prometheus_client import REGISTRY

from bench.signing import carried_keys, tampered
from schemas.envelopes import AlertPublished
from schemas.topics import ALERT_TOPICS
from services.feed_ingest.feeds import cap_identity
from services.feed_ingest.models import SeenEntry
from services.feed_ingest.runtime import FeedIngest

ADMIN = ("admin", "admin-secret-123")
FEEDS = ("naads.atom", "eccc.atom", "liege.atom", "nws.rss")
ATOM = "application/atom+xml"
RSS = "application/rss+xml"

NAADS = "canada_eccc_naads_snowfall_warning_signed.xml"
THUNDER_BAY = "canada_eccc_special_weather_statement_thunder_bay.xml"
BLIZZARD = "us_nws_blizzard_warning_minnesota_empty_polygon_cap11.xml"
FLASH_FLOOD = "us_nws_flash_flood_watch_montana_cap11.xml"
NEVADA = "us_nws_flood_warning_nevada_cap11_errors_injected.xml"
AIRNOW = "us_epa_airnow_air_quality_alert_auburn.xml"

SOURCES = {  # organisation: its CAP sender and the region it acts for
    "ca-eccc": ("cap-pac@canada.ca", "CA"),
    "ca-naads": ("cap-pac@ec.gc.ca", "CA"),
    "us-nws": ("w-nws.webmaster@noaa.gov", "US"),
}


class Admin:
    """The registry's administrator, registering external sources and their feeds."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    async def create(self, kind: str, record: dict[str, Any], *, exists_ok: bool = False) -> None:
        answer = await self.http.post(f"/v1/{kind}", json=record, headers=self.headers)
        assert answer.status_code == 201 or (exists_ok and answer.status_code == 409), answer.text

    async def source(self, organisation: str, **changes: Any) -> None:
        """An external source acting for its country's region, competent for Met and Geo, bound
        to the Belgian national crisis centre for them."""
        sender, region = SOURCES[organisation]
        await self.create(
            "regions", {"code": region, "country": region, "level": 0, "names": {"en": region}},
            exists_ok=True,
        )  # fmt: skip
        await self.create("organisations", {
            "id": organisation, "name": f"External source {organisation}",
            "kind": "environment_agency", "home_region": region, "cap_sender": sender,
            "cap_mode": "ingest", **changes,
        })  # fmt: skip
        await self.create("contact-points", {
            "id": f"{organisation}-desk", "organisation": organisation, "function": "duty_desk",
            "name": "Warnings desk", "competences": [{"category": "Met"}, {"category": "Geo"}],
        })  # fmt: skip
        await self.create("agreements", {
            "id": f"{organisation}-warnings", "name": f"{organisation} warnings to Belgium",
            "parties": {"organisations": [organisation, "be-nccn"]},
            "categories": ["Met", "Geo"], "min_severity": "Minor", "valid_from": "2000-01-01",
        })  # fmt: skip

    async def external(self, organisation: str) -> None:
        """A member of the network made an external source (its feed is read in ingest mode)."""
        url = f"/v1/organisations/{organisation}"
        record = await self.http.get(url, headers=self.headers)
        body = {k: v for k, v in record.json().items() if k != "version"}
        changed = await self.http.put(
            url, json={**body, "cap_mode": "ingest"},
            headers={**self.headers, "If-Match": record.headers["ETag"]},
        )  # fmt: skip
        assert changed.status_code == 200, changed.text

    async def feed(self, feed_id: str, url: str, organisation: str) -> None:
        await self.create("cap-feeds", {"id": feed_id, "url": url, "organisation": organisation})


def identity(name: str) -> tuple[str, str]:
    """The (sender, identifier) a real document names."""
    found = cap_identity(real(name))
    assert found is not None
    return found


async def brought(worker: FeedIngest) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(a.sender, a.identifier): (a.outcome, a.code) for a in await worker.ledger.alerts()}


async def outcomes(worker: FeedIngest, feed_id: str) -> dict[str, tuple[str, str | None]]:
    entries: list[SeenEntry] = await worker.ledger.entries(feed_id)
    return {e.entry_id: (e.outcome, e.code) for e in entries}


def polls(feed: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("crossalert_feed_polls_total", {"feed": feed, "outcome": outcome})
        or 0.0
    )


async def published_on_the_log(kafka: str, identifiers: set[str]) -> Counter[str]:
    """How many times each of `identifiers` was written to the alert topics."""
    found: Counter[str] = Counter()
    for spec in ALERT_TOPICS.values():
        for envelope in await envelopes_on(kafka, spec.name):
            if isinstance(envelope, AlertPublished) and envelope.alert.identifier in identifiers:
                found[envelope.alert.identifier] += 1
    return found


async def serve_the_sources(server: FeedServer, admin: Admin) -> str:
    """The feeds of the three authorities and Liège, registered; the identifier of Liège's
    large alert."""
    for organisation in SOURCES:
        await admin.source(organisation)
    await admin.external("be-liege")
    for name in (NAADS, BLIZZARD, FLASH_FLOOD, NEVADA, AIRNOW):
        server.put(f"cap/{name}", real(name))
    server.put("cap/naads-copy.xml", real(NAADS))
    large, document = many_polygons()
    server.put("cap/large.xml", document)
    # The same signed warning twice: by a relative link, and by another entry's absolute one.
    server.put("naads.atom", atom_feed(
        Entry("naads-1", link=f"cap/{NAADS}"),
        Entry("naads-again", link=f"{server.url}/cap/naads-copy.xml"),
    ), ATOM)  # fmt: skip
    server.put("eccc.atom", atom_feed(Entry("thunder-bay", embedded=real(THUNDER_BAY))), ATOM)
    server.put("liege.atom", atom_feed(Entry("large", link="/cap/large.xml")), ATOM)
    server.put("nws.rss", rss_feed(*nws_items(server)), RSS)
    await admin.feed("naads", f"{server.url}/naads.atom", "ca-naads")
    await admin.feed("eccc", f"{server.url}/eccc.atom", "ca-eccc")
    await admin.feed("liege", f"{server.url}/liege.atom", "be-liege")
    await admin.feed("nws", f"{server.url}/nws.rss", "us-nws")
    return str(large["identifier"])


def nws_items(
    server: FeedServer, *, blizzard: str = "Mon, 27 Dec 2021 16:08:00 GMT"
) -> list[Entry]:
    """The NWS index: two alerts, one its authors damaged, and another sender's alert."""
    return [
        Entry("blizzard", updated=blizzard, link=f"{server.url}/cap/{BLIZZARD}"),
        Entry("flash-flood", link=f"{server.url}/cap/{FLASH_FLOOD}"),
        Entry("nevada", link=f"{server.url}/cap/{NEVADA}"),
        Entry("airnow", link=f"{server.url}/cap/{AIRNOW}"),
    ]


async def test_new_alerts_of_atom_and_rss_feeds_reach_the_duty_officers_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with network_on(tmp_path, kafka_bootstrap) as net, feed_server() as server:
        admin = Admin(net.registry.http, await net.registry.auth(*ADMIN))
        large = await serve_the_sources(server, admin)
        console = await net.console("be-nccn-duty")
        wanted = {identity(n)[1] for n in (NAADS, THUNDER_BAY, BLIZZARD, FLASH_FLOOD)} | {large}

        async with running_feed_ingest(
            tmp_path, kafka_bootstrap, net.registry, net.gateway.http
        ) as worker:
            await worker.poll_now()
            await console.wait_for(lambda c: wanted <= set(ids(c)), timeout=60, what="alerts")

            assert await brought(worker) == {
                **{identity(n): ("brought_in", None)
                   for n in (NAADS, THUNDER_BAY, BLIZZARD, FLASH_FLOOD)},
                ("crisis@liege.example.org", large): ("brought_in", None),
                identity(NEVADA): ("refused", "unroutable"),  # nothing left to route it by
                identity(AIRNOW): ("refused", "wrong_sender"),  # not the NWS's alert
            }  # fmt: skip
            assert await outcomes(worker, "naads") == {
                # Read oldest first: the feed lists the newest first.
                "naads-again": ("brought_in", None), "naads-1": ("duplicate", None),
            }  # fmt: skip
            assert server.hits["cap/naads-copy.xml"] == 1

            # Nothing new: every feed answers 304 (its body went once), and no document is
            # asked for again.
            await worker.poll_now()
            for feed in FEEDS:
                assert server.not_modified[feed] >= 1, feed
                assert server.hits[feed] - server.not_modified[feed] == 1, feed
            assert polls("nws", "not_modified") >= 1

        # The NWS index changes while the worker is down: the blizzard entry says it was
        # updated. Restarted, the worker reads the changed index, fetches that entry's document
        # again, knows its alert and does not send it; the other feeds are unchanged (304).
        server.put(
            "nws.rss", rss_feed(*nws_items(server, blizzard="Mon, 27 Dec 2021 18:00:00 GMT")), RSS
        )
        async with running_feed_ingest(
            tmp_path, kafka_bootstrap, net.registry, net.gateway.http
        ) as worker:
            await worker.poll_now()
            assert (await outcomes(worker, "nws"))["blizzard"] == ("duplicate", None)
        # The validators outlived the restart: the unchanged feeds' bodies still went once.
        for feed in FEEDS:
            sent = server.hits[feed] - server.not_modified[feed]
            assert sent == (2 if feed == "nws.rss" else 1), feed
        assert server.hits[f"cap/{BLIZZARD}"] == 2
        for refused in (NEVADA, AIRNOW, FLASH_FLOOD, NAADS):
            assert server.hits[f"cap/{refused}"] == 1, refused

        await quiet()
        shown = Counter(ids(console))
        assert {i: shown[i] for i in wanted} == dict.fromkeys(wanted, 1)
        assert await published_on_the_log(kafka_bootstrap, wanted) == dict.fromkeys(wanted, 1)


async def test_a_failing_feed_never_stops_the_others(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with network_on(tmp_path, kafka_bootstrap) as net, feed_server() as server:
        admin = Admin(net.registry.http, await net.registry.auth(*ADMIN))
        await admin.source("ca-eccc")
        # NAAD's documents must be signed by Environment Canada's or Pelmorex's keys.
        naads_keys = [key.model_dump() for key in carried_keys(real(NAADS))]
        await admin.source(
            "ca-naads", max_cap_bytes=64 * 1024, signature_policy="require",
            signing_keys=naads_keys,
        )  # fmt: skip
        server.put("eccc.atom", atom_feed(Entry("thunder-bay", embedded=real(THUNDER_BAY))), ATOM)
        server.put("garbage.atom", b"<html><body>Maintenance", "text/html")
        server.put("cap/large.xml", many_polygons()[1])
        server.put(f"cap/{NAADS}", real(NAADS))
        server.put("cap/altered.xml", tampered(real(NAADS)))
        # Another host (here loopback by another name: inside the network, say), linked or
        # redirected to, is never asked.
        elsewhere = server.url.replace("127.0.0.1", "localhost")
        server.redirects["moved.xml"] = f"{elsewhere}/cap/{NAADS}"
        server.put("naads.atom", atom_feed(
            Entry("large", link="cap/large.xml"),  # 1.7 MB, said by its Content-Length
            Entry("endless", link="endless.xml"),  # no length, and no end
            Entry("elsewhere", link=f"{elsewhere}/cap/{NAADS}"),
            Entry("moved", link="moved.xml"),
            Entry("naads", link=f"cap/{NAADS}"),
            # Older, so read first: the same alert altered; refused, it does not keep the
            # genuine document out.
            Entry("altered", link="cap/altered.xml"),
        ), ATOM)  # fmt: skip
        await admin.feed("unreachable", f"http://127.0.0.1:{free_port()}/feed.atom", "ca-eccc")
        await admin.feed("garbage", f"{server.url}/garbage.atom", "ca-eccc")
        await admin.feed("naads-64k", f"{server.url}/naads.atom", "ca-naads")
        await admin.feed("eccc-ok", f"{server.url}/eccc.atom", "ca-eccc")
        console = await net.console("be-nccn-duty")

        async with running_feed_ingest(
            tmp_path, kafka_bootstrap, net.registry, net.gateway.http
        ) as worker:
            await worker.poll_now()
            wanted = {identity(THUNDER_BAY)[1], identity(NAADS)[1]}
            await console.wait_for(lambda c: wanted <= set(ids(c)), timeout=60, what="alerts")
            assert polls("unreachable", "unreachable") >= 1
            assert polls("garbage", "failed") >= 1
            assert await outcomes(worker, "naads-64k") == {
                "large": ("refused", "too_large"),
                "endless": ("refused", "too_large"),
                "elsewhere": ("refused", "foreign_host"),
                "moved": ("refused", "foreign_host"),
                "altered": ("refused", "signature_not_verified"),
                "naads": ("brought_in", None),
            }
            assert server.hits[f"cap/{NAADS}"] == 1  # by its own link only
            assert server.sent["endless.xml"] < 16 * 1024 * 1024  # of 64 MiB

            before = polls("unreachable", "unreachable")
            await worker.poll_now()  # refused for good: not asked for again
            assert polls("unreachable", "unreachable") > before
            assert server.hits["cap/large.xml"] == server.hits["endless.xml"] == 1


async def test_our_own_public_feed_ingested_by_another_network_brings_each_alert_in_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Round trip: network A's notifier serves its public Atom feed on loopback; network B,
    where A's Liège crisis unit is an external source, polls it. Each Public, Actual alert of
    A reaches B's duty officers once, however often B polls; A's Restricted alert never
    leaves A. (B's notifier reads the log from when it starts, after A published: what B
    shows came through the feed.)"""
    async with network_on(tmp_path / "a", kafka_bootstrap) as a:
        public = [meuse_alert(), meuse_alert()]
        restricted = meuse_alert(scope="Restricted", restriction="Services de secours.")
        for alert in [*public, restricted]:
            await a.post(alert)
        feed_url = f"{a.notifier.url}/feeds/alerts.atom"
        wanted = {alert["identifier"] for alert in public}
        async with httpx.AsyncClient() as http:
            await until_listed(http, feed_url, wanted)

        async with network_on(tmp_path / "b", kafka_bootstrap) as b:
            admin = Admin(b.registry.http, await b.registry.auth(*ADMIN))
            await admin.external("be-liege")
            await admin.feed("liege-public", feed_url, "be-liege")
            consoles = {cp: await b.console(cp) for cp in FLOOD_RECIPIENTS}
            async with running_feed_ingest(
                tmp_path / "b", kafka_bootstrap, b.registry, b.gateway.http
            ) as worker:
                await worker.poll_now()
                for cp, console in consoles.items():
                    await console.wait_for(lambda c: wanted <= set(ids(c)), what=cp)
                await worker.poll_now()
                await worker.poll_now()
                assert polls("liege-public", "not_modified") >= 2
                assert {
                    key[1]: said for key, said in (await brought(worker)).items()
                } == dict.fromkeys(wanted, ("brought_in", None))
            await quiet()
            for console in consoles.values():
                shown = Counter(ids(console))
                assert {i: shown[i] for i in wanted} == dict.fromkeys(wanted, 1)
                assert restricted["identifier"] not in shown


async def until_listed(http: httpx.AsyncClient, url: str, identifiers: set[str]) -> None:
    """Wait until the Atom feed at `url` lists every one of `identifiers`."""
    for _ in range(100):
        listed = (await http.get(url)).text
        if all(identifier in listed for identifier in identifiers):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never listed {identifiers}")
