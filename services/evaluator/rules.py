"""What the evaluator reads from the registry: the rules, the indicators, the regions' names, and
the CAP sender of each agency it publishes for.

The rules are read whole and trusted for `fresh_for` seconds, or until the registry says a rule
or an indicator changed. While the registry cannot be reached, what was last read serves; only
an evaluator that never read the rules has to wait for it.
"""

from __future__ import annotations

import time
from collections import defaultdict

import structlog

from schemas.identity import Scope
from schemas.observations import place_of
from schemas.registry import RegionOut
from schemas.thresholds import IndicatorOut, ThresholdRule
from services.common.catalogue import IndicatorCatalogue
from services.common.registry_client import (
    RegistryClient,
    RegistryRefused,
    RegistryUnavailable,
    issued_claims,
)

log = structlog.get_logger(__name__)


class RuleBook:
    """The threshold rules by the series they watch, and what composing their alerts needs."""

    def __init__(self, registry: RegistryClient, *, fresh_for: float) -> None:
        self._registry = registry
        self._fresh_for = fresh_for
        self.catalogue = IndicatorCatalogue(registry, fresh_for=fresh_for)
        self._rules: dict[str, ThresholdRule] | None = None
        self._by_series: dict[tuple[str, str], list[ThresholdRule]] = {}
        self._read_at = 0.0
        self._names: dict[str, dict[str, str]] = {}
        self._senders: dict[str, str] = {}

    def invalidate(self) -> None:
        """A rule or indicator changed: read them again before the next use."""
        self._read_at = 0.0
        self.catalogue = IndicatorCatalogue(self._registry, fresh_for=self._fresh_for)

    async def rules(self) -> dict[str, ThresholdRule]:
        """Every rule by id; RegistryUnavailable when never read and unreadable now."""
        if self._rules is not None and time.monotonic() - self._read_at < self._fresh_for:
            return self._rules
        try:
            response = await self._registry.request(
                "GET", "/v1/threshold-rules", scope=Scope.THRESHOLDS_READ
            )
        except RegistryUnavailable:
            if self._rules is None:
                raise
            log.warning("registry unreachable; the rules last read serve")
            return self._rules
        if response.status_code != 200:
            raise RegistryRefused(f"registry answered {response.status_code}: {response.text}")
        rules = [ThresholdRule.model_validate(r) for r in response.json()]
        self._rules = {rule.id: rule for rule in rules}
        self._by_series = defaultdict(list)
        for rule in rules:
            for region in rule.latest.regions:
                place = place_of(region, rule.latest.station)
                for indicator in rule.latest.indicators:
                    self._by_series[indicator, place].append(rule)
        self._read_at = time.monotonic()
        return self._rules

    async def watching(self, place: str, indicators: set[str]) -> list[ThresholdRule]:
        """The rules reading any of these indicators at this place."""
        await self.rules()
        found = {r.id: r for i in indicators for r in self._by_series.get((i, place), [])}
        return list(found.values())

    async def indicator(self, indicator_id: str) -> IndicatorOut | None:
        """An indicator of the catalogue."""
        return (await self.catalogue.indicators()).get(indicator_id)

    async def region_names(self, code: str) -> dict[str, str]:
        """The region's names by language ({} when the registry does not know it)."""
        if code not in self._names:
            response = await self._registry.request(
                "GET", f"/v1/regions/{code}", scope=Scope.THRESHOLDS_READ
            )
            if response.status_code == 404:
                return {}
            if response.status_code != 200:
                raise RegistryRefused(f"registry answered {response.status_code}: {response.text}")
            names = RegionOut.model_validate_json(response.content).names
            self._names[code] = {str(language): name for language, name in names.items()}
        return self._names[code]

    async def sender_of(self, organisation: str) -> str:
        """The CAP sender of an agency, as its on-behalf token names it."""
        if organisation not in self._senders:
            token = await self._registry.token(Scope.ALERTS_PUBLISH, on_behalf_of=organisation)
            self._senders[organisation] = str(issued_claims(token)["sender"])
        return self._senders[organisation]
