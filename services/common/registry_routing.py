"""Who must receive an alert: the registry's routing answer, cached, and kept for when it is down.

The network's services (the notifier delivering, the gateway checking who may acknowledge)
ask as API clients of their own with the scope `routing:resolve`.

Answers are cached by the alert's routing facts (the same facts always get the same answer while
the registry's data stays the same). A registry change event makes every cached answer stale:
a stale answer is asked again, but used as it is while the registry cannot be reached, so alerts
keep flowing to the recipients last known. Only facts never seen before need the registry.
"""

from __future__ import annotations

import time

import httpx
import structlog

from schemas.identity import Scope
from schemas.registry import RoutingAnswer, RoutingFacts, RoutingRequest
from services.common.registry_client import RegistryClient, RegistryRefused, RegistryUnavailable

log = structlog.get_logger(__name__)


class RoutingClient:
    """The registry's routing answers, asked with `routing:resolve` and cached by facts."""

    def __init__(self, registry: RegistryClient, *, fresh_for: float | None = None) -> None:
        """`fresh_for`: seconds an answer is trusted before it is asked again (None: until
        `invalidate`, for a client that follows the registry's change events)."""
        self._registry = registry
        self._answers: dict[str, RoutingAnswer] = {}
        self._fresh: dict[str, float] = {}
        self._fresh_for = fresh_for

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
        response = await self._registry.request(
            "POST", "/v1/routing", scope=Scope.ROUTING_RESOLVE, json=body
        )
        if response.status_code != 200:
            raise RegistryRefused(_refusal(response))
        return RoutingAnswer.model_validate_json(response.content)


def _cache_key(facts: RoutingFacts) -> str:
    # Agreements are in force by the day, so the day of `sent` is all that matters of it.
    day = facts.sent.date().isoformat() if facts.sent else ""
    return facts.model_copy(update={"sent": None}).model_dump_json() + day


def _refusal(response: httpx.Response) -> str:
    """The registry's reason for refusing: its problem's sentence where it sent one."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return f"the registry answered {response.status_code}: {detail or response.text}"
