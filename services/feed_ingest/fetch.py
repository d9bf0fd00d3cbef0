"""Fetching a feed or a CAP document from a server outside the network: conditional, bounded.

Every fetch ends within its timeout, whole (a server trickling bytes cannot hold a poll), and
reads at most `limit` bytes: a declared length over it is refused before the body is read, and
a body that grows past it is cut off there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx


class TooLarge(Exception):
    """The document is larger than it may be; only its first `limit` bytes were read."""


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
    limit: int,
    within: float,
    known: Validators | None = None,
) -> Fetched:
    """GET `url` (conditionally when `known`), reading at most `limit` bytes in `within` seconds.

    TooLarge past the limit; httpx.HTTPError or TimeoutError when the server cannot be read.
    """
    headers = known.headers() if known else {}
    async with asyncio.timeout(within), http.stream("GET", url, headers=headers) as response:
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
