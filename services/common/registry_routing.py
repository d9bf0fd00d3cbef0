"""Who must receive an alert: the registry's routing answer, cached, and kept for when it is down.

The network's services (the notifier delivering, the gateway checking who may acknowledge)
ask as API clients of their own with the scope `routing:resolve`.

Answers are cached by the alert's routing facts (the same facts always get the same answer while
the registry's data stays the same). A registry change event makes every cached answer stale:
a stale answer is asked again, but used as it is while the registry cannot be reached, so alerts
keep flowing to the recipients last known. Only facts never seen before need the registry.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import structlog

from schemas.identity import TokenResponse
from schemas.registry import RoutingAnswer, RoutingFacts, RoutingRequest

log = structlog.get_logger(__name__)


class RegistryUnavailable(Exception):
    """The registry did not answer, and no answer for these facts is known."""


class RegistryRefused(Exception):
    """The registry refused the question (e.g. an unknown sender): asking again will not help."""


class RoutingClient:
    """Asks the registry for routing answers as a client of its own (client credentials)."""

    def __init__(
        self,
        registry_url: str,
        *,
        client_id: str,
        client_secret: str,
        timeout_seconds: float,
        client: httpx.AsyncClient | None = None,
        fresh_for: float | None = None,
    ) -> None:
        """`fresh_for`: seconds an answer is trusted before it is asked again (None: until
        `invalidate`, for a client that follows the registry's change events)."""
        self._url = registry_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout_seconds
        self._http = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_http = client is None
        self._token: str | None = None
        self._token_expires = 0.0
        self._answers: dict[str, RoutingAnswer] = {}
        self._fresh: dict[str, float] = {}
        self._fresh_for = fresh_for
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP client this router opened."""
        if self._owns_http:
            await self._http.aclose()

    def invalidate(self) -> None:
        """The registry changed: ask again before trusting a cached answer."""
        self._fresh.clear()

    async def route(self, facts: RoutingFacts) -> RoutingAnswer:
        """The recipients of an alert with these facts."""
        key = _cache_key(facts)
        asked = self._fresh.get(key)
        if asked is not None and (
            self._fresh_for is None or time.monotonic() - asked < self._fresh_for
        ):
            return self._answers[key]
        try:
            answer = await self._ask(facts)
        except RegistryUnavailable:
            known = self._answers.get(key)
            if known is None:
                raise
            log.warning("registry unreachable; routing from the last known answer")
            return known
        self._answers[key] = answer
        self._fresh[key] = time.monotonic()
        return answer

    async def _ask(self, facts: RoutingFacts) -> RoutingAnswer:
        body = RoutingRequest(facts=facts).model_dump(mode="json", exclude_none=True)

        async def ask() -> httpx.Response:
            return await self._http.post(
                f"{self._url}/v1/routing",
                json=body,
                headers={"Authorization": f"Bearer {await self._access_token()}"},
            )

        try:
            async with asyncio.timeout(self._timeout):
                response = await ask()
                if response.status_code == 401:
                    # Signed by a key the registry no longer uses, or revoked: a new token.
                    self._token = None
                    response = await ask()
        except (httpx.HTTPError, TimeoutError) as exc:
            raise RegistryUnavailable(str(exc) or type(exc).__name__) from exc
        if response.status_code >= 500:
            raise RegistryUnavailable(f"registry answered {response.status_code}")
        if response.status_code != 200:
            raise RegistryRefused(f"registry answered {response.status_code}: {response.text}")
        return RoutingAnswer.model_validate_json(response.content)

    async def _access_token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() > self._token_expires:
                response = await self._http.post(
                    f"{self._url}/v1/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._client_secret,
                        "scope": "routing:resolve",
                    },
                )
                if response.status_code >= 500:
                    raise RegistryUnavailable(f"token endpoint answered {response.status_code}")
                if response.status_code != 200:
                    raise RegistryRefused(f"the registry refused our credentials: {response.text}")
                token = TokenResponse.model_validate_json(response.content)
                self._token = token.access_token
                # Renew a little early, so that a token never expires on its way.
                self._token_expires = time.monotonic() + token.expires_in * 0.8
            return self._token


def _cache_key(facts: RoutingFacts) -> str:
    # Agreements are in force by the day, so the day of `sent` is all that matters of it.
    day = facts.sent.date().isoformat() if facts.sent else ""
    return facts.model_copy(update={"sent": None}).model_dump_json() + day
