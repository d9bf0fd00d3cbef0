"""The registry's indicator catalogue, as the gateway and the evaluator read it.

Indicators change rarely (the administrator adds one when agencies agree to report it), so the
catalogue is read whole and kept for a minute; while the registry cannot be reached, the
catalogue last read serves. Only a service that never read it has to refuse (503).
"""

from __future__ import annotations

import time

import structlog

from schemas.identity import Scope
from schemas.thresholds import IndicatorOut
from services.common.registry_client import RegistryClient, RegistryUnavailable

log = structlog.get_logger(__name__)


class IndicatorCatalogue:
    """Every indicator of the registry by id, read with `thresholds:read`."""

    def __init__(self, registry: RegistryClient, *, fresh_for: float = 60.0) -> None:
        self._registry = registry
        self._fresh_for = fresh_for
        self._indicators: dict[str, IndicatorOut] | None = None
        self._read_at = 0.0

    async def indicators(self) -> dict[str, IndicatorOut]:
        """The catalogue; RegistryUnavailable when it was never read and cannot be now."""
        if self._indicators is not None and time.monotonic() - self._read_at < self._fresh_for:
            return self._indicators
        try:
            self._indicators = await self._read()
            self._read_at = time.monotonic()
        except RegistryUnavailable:
            if self._indicators is None:
                raise
            log.warning("registry unreachable; the indicator catalogue last read serves")
        return self._indicators

    async def _read(self) -> dict[str, IndicatorOut]:
        indicators = await self._registry.records(
            "indicators", IndicatorOut, scope=Scope.THRESHOLDS_READ
        )
        return {indicator.id: indicator for indicator in indicators}
