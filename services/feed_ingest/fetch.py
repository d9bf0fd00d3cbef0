"""Fetching a feed or a CAP document from a server outside the network: conditional, bounded.

Every fetch ends within its timeout, whole (a server trickling bytes cannot hold a poll), and
reads at most `limit` bytes: a declared length over it is refused before the body is read, and
a body that grows past it is cut off there.

Every request, redirects included, stays on the host of the feed the administrator registered:
a feed (or a server it redirects to) must not make the worker ask hosts inside the network for
documents it would then publish (server-side request forgery).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

MAX_REDIRECTS = 5


class TooLarge(Exception):
    """The document is larger than it may be; only its first `limit` bytes were read."""


class ForeignHost(Exception):
    """The address (or a redirect) leads off the feed's host: not asked."""


def host_of(url: str | httpx.URL) -> str:
    """The host of an http(s) URL, lower case."""
    return httpx.URL(str(url)).host.lower()


@dataclass(frozen=True)
class Validators:
    """What a server said of a document, to ask it next time whether it changed."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        """The conditional request headers (RFC 9110 §13.1)."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Fetched:
    """A server's answer: its status, body (empty unless 2xx) and validators."""

    status: int
    body: bytes
    validators: Validators


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    *,
    host: str,
    limit: int,
    within: float,
    known: Validators | None = None,
) -> Fetched:
    """GET `url` (conditionally when `known`), reading at most `limit` bytes in `within` seconds,
    following up to MAX_REDIRECTS redirects on `host` only.

    TooLarge past the limit; ForeignHost for an address or redirect off `host`;
    httpx.HTTPError or TimeoutError when the server cannot be read.
    """
    headers = known.headers() if known else {}
    async with asyncio.timeout(within):
        for _ in range(MAX_REDIRECTS + 1):
            if host_of(url) != host:
                raise ForeignHost(f"{url} is not on the feed's host {host}")
            fetched = await _get(http, url, headers, limit)
            if not isinstance(fetched, httpx.URL):
                return fetched
            url = str(fetched)
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {url}")


async def _get(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int
) -> Fetched | httpx.URL:
    """One GET: the answer, or where it redirects to."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.is_redirect and "Location" in response.headers:
            return response.url.join(response.headers["Location"])
        validators = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
        if not response.is_success:
            return Fetched(response.status_code, b"", validators)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"{url} is {declared} bytes; at most {limit} are read")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"{url} is over {limit} bytes; reading stopped there")
        return Fetched(response.status_code, bytes(body), validators)
