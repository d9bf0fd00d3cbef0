"""Liveness and readiness endpoints, the same in every service.

`/healthz` says the process answers; `/readyz` runs each dependency check with a short bound
and answers 503 with Retry-After when one fails, so that orchestrators and operators see at
once which dependency is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Response, status

ReadinessCheck = Callable[[], Awaitable[None]]
"""Returns when the dependency serves requests; raises otherwise."""

CHECK_TIMEOUT_SECONDS = 3.0
RETRY_AFTER_SECONDS = 5


def health_router(
    checks: Mapping[str, ReadinessCheck], optional: Mapping[str, ReadinessCheck] | None = None
) -> APIRouter:
    """`/healthz` and `/readyz` for a service whose dependencies are `checks`.

    `optional` dependencies are reported but do not make the service unready: it still does
    useful work without them (the registry keeps its changes in its outbox while Kafka is down).
    """
    everything = {**checks, **(optional or {})}
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive and answers."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        responses={503: {"description": "A required dependency does not answer (Retry-After)."}},
    )
    async def readyz(response: Response) -> dict[str, object]:
        """Every required dependency answers; otherwise 503 naming the ones that do not."""
        outcomes = await asyncio.gather(*map(_run, everything.values()))
        results = dict(zip(everything, outcomes, strict=True))
        ready = all(results[name] == "ok" for name in checks)
        if not ready:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return {"status": "ready" if ready else "not ready", "checks": results}

    return router


async def _run(check: ReadinessCheck) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        return f"unavailable: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # any failure of a dependency means "not ready", never a 500
        return f"unavailable: {exc or type(exc).__name__}"
    return "ok"


def kafka_check(bootstrap_servers: str) -> ReadinessCheck:
    """A check that the Kafka cluster at `bootstrap_servers` answers a metadata request."""

    async def check() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=int(CHECK_TIMEOUT_SECONDS * 1000),
        )
        try:
            await admin.start()
            await admin.describe_cluster()
        finally:
            await admin.close()

    return check
