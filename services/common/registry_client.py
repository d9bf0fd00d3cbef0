"""A service asking the registry as an API client of its own: its tokens and its questions.

The network's services (the notifier and the gateway asking for routing, the gateway reading
the indicator catalogue, the evaluator reading threshold rules and publishing for agencies)
hold client credentials. A token is fetched when first needed and renewed a little before it
expires; a request answered 401 (a key the registry no longer uses, a revoked token) is sent
once more with a fresh token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from schemas.identity import Scope, TokenResponse
from schemas.registry import Page
from services.common.settings import RegistryClientSettings


class RegistryUnavailable(Exception):
    """The registry did not answer (or answered 5xx): asking again later may help."""


RETRY_SECONDS = (0.5, 1, 2, 5)
PAGE = 500
"""Records asked per page when every record of a kind is read (the registry's largest)."""
Record = TypeVar("Record", bound=BaseModel)


def retry_delay(attempt: int) -> float:
    """How long work waiting for the registry waits before its attempt `attempt` + 1."""
    return RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]


class RegistryRefused(Exception):
    """The registry refused the request: asking again will not help."""


class RegistryClient:
    """One service's client of the registry."""

    def __init__(
        self,
        registry_url: str,
        *,
        client_id: str,
        client_secret: str,
        timeout_seconds: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = registry_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout_seconds
        self._http = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_http = client is None
        self._tokens: dict[tuple[str, str | None], tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP client this client opened."""
        if self._owns_http:
            await self._http.aclose()

    async def token(self, scope: Scope, *, on_behalf_of: str | None = None) -> str:
        """An access token with `scope` (publishing as `on_behalf_of`, for the evaluator)."""
        key = (str(scope), on_behalf_of)
        async with self._lock:
            known = self._tokens.get(key)
            if known is not None and time.monotonic() < known[1]:
                return known[0]
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "scope": str(scope),
            }
            if on_behalf_of is not None:
                form["on_behalf_of"] = on_behalf_of
            response = await self._send("POST", "/v1/oauth/token", data=form)
            if response.status_code != 200:
                raise RegistryRefused(f"the registry refused our credentials: {response.text}")
            issued = TokenResponse.model_validate_json(response.content)
            # Renewed a little early, so that a token never expires on its way.
            self._tokens[key] = (issued.access_token, time.monotonic() + issued.expires_in * 0.8)
            return issued.access_token

    def forget(self, scope: Scope, *, on_behalf_of: str | None = None) -> None:
        """Drop a token the receiving service refused, so that the next one is fresh."""
        self._tokens.pop((str(scope), on_behalf_of), None)

    async def request(self, method: str, path: str, *, scope: Scope, **body: Any) -> httpx.Response:
        """The registry's answer to a request made with a token of `scope` (2xx to 4xx).

        RegistryUnavailable when it does not answer or answers 5xx.
        """
        response = await self._send(
            method, path, headers={"Authorization": f"Bearer {await self.token(scope)}"}, **body
        )
        if response.status_code == 401:
            self.forget(scope)
            response = await self._send(
                method, path, headers={"Authorization": f"Bearer {await self.token(scope)}"},
                **body,
            )  # fmt: skip
        return response

    async def records(self, kind: str, model: type[Record], *, scope: Scope) -> list[Record]:
        """Every record of a kind (`/v1/{kind}`), read page by page with a token of `scope`.

        RegistryRefused when the registry refuses; RegistryUnavailable when it does not answer.
        """
        found: list[Record] = []
        while True:
            response = await self.request(
                "GET", f"/v1/{kind}?limit={PAGE}&offset={len(found)}", scope=scope
            )
            if response.status_code != 200:
                raise RegistryRefused(f"registry answered {response.status_code}: {response.text}")
            page = Page[model].model_validate_json(response.content)  # type: ignore[valid-type]
            found += page.items
            if not page.items or len(found) >= page.total:
                return found

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            # httpx bounds each phase; this bounds the whole exchange.
            async with asyncio.timeout(self._timeout):
                response = await self._http.request(method, f"{self._url}{path}", **options)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise RegistryUnavailable(str(exc) or type(exc).__name__) from exc
        if response.status_code >= 500:
            raise RegistryUnavailable(f"the registry answered {response.status_code}")
        return response


REFUSED_FOR_GOOD = frozenset({400, 403, 409, 413, 415, 422})
"""Answers of the gateway that sending the same document again cannot change."""


async def post_as(
    registry: RegistryClient,
    http: httpx.AsyncClient,
    organisation: str,
    path: str,
    *,
    content: bytes | str,
    content_type: str,
) -> httpx.Response:
    """POST `content` to `path` of the gateway publishing as `organisation` (a token on its
    behalf), once more with a fresh token if the gateway refused the token (401)."""
    response = None
    for _ in range(2):
        token = await registry.token(Scope.ALERTS_PUBLISH, on_behalf_of=organisation)
        response = await http.post(
            path,
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        )
        if response.status_code != 401:
            break
        registry.forget(Scope.ALERTS_PUBLISH, on_behalf_of=organisation)
    assert response is not None
    return response


def registry_client_of(
    settings: RegistryClientSettings, *, client: httpx.AsyncClient | None = None
) -> RegistryClient:
    """The registry client a service's settings describe (`client`: an HTTP client to share)."""
    return RegistryClient(
        settings.registry_url,
        client_id=settings.registry_client_id,
        client_secret=settings.registry_client_secret.get_secret_value(),
        timeout_seconds=settings.registry_timeout_seconds,
        client=client,
    )


def issued_claims(token: str) -> dict[str, Any]:
    """The claims of a token the registry has just issued to this client, read without checking
    its signature: the services it is presented to verify it; the holder only reads what it
    names (e.g. its organisation's CAP sender)."""
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims
