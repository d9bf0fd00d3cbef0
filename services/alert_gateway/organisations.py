"""Organisations' registry records as the gateway reads them: their composer's templates and
the keys their CAP documents are signed with.

Records are read with `registry:read` and kept a minute; while the registry cannot be reached,
the record last read serves. Only an organisation never read has to wait (503).
"""

from __future__ import annotations

import time

from schemas.identity import Scope
from schemas.registry import OrganisationOut
from services.common.problems import ProblemError
from services.common.registry_client import RegistryClient, RegistryUnavailable

RETRY_AFTER_SECONDS = 5


class Organisations:
    """Organisations' records by id, each kept `fresh_for` seconds."""

    def __init__(self, registry: RegistryClient, *, fresh_for: float = 60.0) -> None:
        self._registry = registry
        self._fresh_for = fresh_for
        self._read: dict[str, tuple[float, OrganisationOut | None]] = {}

    async def record(self, org: str, *, needed_for: str) -> OrganisationOut | None:
        """The organisation's record (None: not in the registry); 503 naming what it was
        `needed_for` if it was never read and the registry cannot be reached now."""
        kept = self._read.get(org)
        if kept is not None and time.monotonic() - kept[0] < self._fresh_for:
            return kept[1]
        try:
            answer = await self._registry.request(
                "GET", f"/v1/organisations/{org}", scope=Scope.REGISTRY_READ
            )
        except RegistryUnavailable:
            if kept is not None:
                return kept[1]
            raise ProblemError(
                503,
                "registry_unavailable",
                f"the registry cannot give {needed_for} now; retry shortly.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        if answer.status_code == 404:
            found = None
        else:
            answer.raise_for_status()
            found = OrganisationOut.model_validate_json(answer.content)
        self._read[org] = (time.monotonic(), found)
        return found
