"""External sources' feeds on loopback, and the feed ingest worker polling them, for tests.

The feed server answers as a careful publisher does: an ETag and Last-Modified on every
document, 304 to a matching conditional GET. It counts what it was asked and what it sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from notifier_support import free_port, serving
from registry_support import Registry

from services.feed_ingest.app import create_app
from services.feed_ingest.runtime import FeedIngest
from services.feed_ingest.settings import FeedIngestSettings

REAL = Path(__file__).parent / "cap_corpus" / "real"
LAST_MODIFIED = "Tue, 01 Dec 2026 08:00:00 GMT"
ENDLESS = 64 * 1024 * 1024
"""The size of the document that never seems to end: far more than any source may send."""


def real(name: str) -> bytes:
    """A real-world CAP document of tests/cap_corpus/real, byte for byte."""
    return (REAL / name).read_bytes()


class FeedServer:
    """Serves documents by path; counts hits, conditional hits (304) and bytes sent."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}  # path -> where it is found (302)
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.url = ""
        self.app = FastAPI()
        self.app.add_api_route("/endless.xml", self._endless, methods=["GET"])
        self.app.add_api_route("/{path:path}", self._document, methods=["GET"])

    def put(self, path: str, body: bytes, media_type: str = "application/cap+xml") -> str:
        """Serve `body` at `path` from now on; its absolute URL."""
        self.documents[path] = (body, media_type)
        return f"{self.url}/{path}"

    async def _document(self, path: str, request: Request) -> Response:
        self.hits[path] += 1
        if path in self.redirects:
            return Response(status_code=302, headers={"Location": self.redirects[path]})
        if path not in self.documents:
            return Response(status_code=404)
        body, media_type = self.documents[path]
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified[path] += 1
            return Response(status_code=304, headers={"ETag": etag})
        self.sent[path] += len(body)
        headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        return Response(body, media_type=media_type, headers=headers)

    async def _endless(self) -> StreamingResponse:
        """A CAP document streamed without a length, 64 MiB long."""
        self.hits["endless.xml"] += 1

        async def chunks() -> AsyncIterator[bytes]:
            yield b'<?xml version="1.0"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
            chunk = b"<note>" + b"x" * 65_000 + b"</note>"
            while self.sent["endless.xml"] < ENDLESS:
                self.sent["endless.xml"] += len(chunk)
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/cap+xml")


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    """A FeedServer on 127.0.0.1 at a free port."""
    server = FeedServer()
    async with serving(server.app, free_port()) as url:
        server.url = url
        yield server


@dataclass(frozen=True)
class Entry:
    """A feed entry: its id, updated time, and its CAP document linked (an URL, relative or
    not) or embedded (the document's bytes)."""

    id: str
    updated: str = "2026-12-01T08:00:00Z"
    link: str | None = None
    embedded: bytes | None = None


def atom_feed(*entries: Entry) -> bytes:
    """An Atom feed of CAP alerts, linked as the network's own feed and MeteoAlarm's do (an
    HTML alternate beside a link typed application/cap+xml), or embedded in `content`."""
    parts = []
    for e in entries:
        if e.embedded is not None:
            # The document within the feed: its XML declaration cannot stay.
            body = e.embedded.split(b"?>", 1)[1] if e.embedded.startswith(b"<?xml") else e.embedded
            inner = f'<content type="application/cap+xml">{body.decode()}</content>'
        else:
            inner = (
                f'<link rel="alternate" type="text/html" href="/page/{escape(e.id)}.html"/>'
                f'<link rel="related" type="application/cap+xml" href="{escape(e.link or "")}"/>'
            )
        parts.append(
            f"<entry><id>{escape(e.id)}</id><title>{escape(e.id)}</title>"
            f"<updated>{e.updated}</updated>{inner}</entry>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>urn:test:{uuid.uuid4().hex}</id><title>Warnings</title>"
        f"<updated>2026-12-01T08:00:00Z</updated>{''.join(parts)}</feed>"
    ).encode()


def rss_feed(*entries: Entry) -> bytes:
    """An RSS 2.0 index of CAP alerts shaped as NY-Alert's (tests/cap_corpus/real): each
    item's link is the CAP document, its guid the alert."""
    items = "".join(
        f"<item><title>{escape(e.id)}</title><link>{escape(e.link or '')}</link>"
        f"<guid>{escape(e.id)}</guid><pubDate>{e.updated}</pubDate></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        "<title>State-Wide RSS-Based CAP Index</title><link>http://127.0.0.1/</link>"
        f"<description>CAP index</description>{items}</channel></rss>"
    ).encode()


def feed_ingest_app(
    state: Path, kafka: str, registry: Registry, gateway: httpx.AsyncClient, **settings: Any
) -> FastAPI:
    """The worker's app, as the world's client feed-ingest, on a SQLite file in `state` (the
    same file again after a restart), reaching the registry and `gateway` in-process."""
    settings.setdefault("database_url", f"sqlite+aiosqlite:///{state / 'feed-ingest.sqlite3'}")
    return create_app(
        FeedIngestSettings(
            kafka_bootstrap_servers=kafka,
            registry_url="http://registry",
            registry_client_id="feed-ingest",
            registry_client_secret="feed-ingest-secret-123",
            log_format="json",
            fetch_timeout_seconds=5,
            **settings,
        ),
        registry_client=registry.http,
        gateway_client=gateway,
    )


@asynccontextmanager
async def running_feed_ingest(
    state: Path, kafka: str, registry: Registry, gateway: httpx.AsyncClient, **settings: Any
) -> AsyncIterator[FeedIngest]:
    """The worker running in this process (feed_ingest_app); its runtime."""
    app = feed_ingest_app(state, kafka, registry, gateway, **settings)
    async with app.router.lifespan_context(app):
        yield app.state.feeds
