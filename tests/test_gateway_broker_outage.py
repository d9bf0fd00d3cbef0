"""The broker goes away and comes back: the gateway says so at once, then publishes again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway_support import flood_alert, identifiers_on, running_gateway
from registry_support import running_registry

from services.localnet import kafka


async def test_a_stopped_broker_gives_a_prompt_503_and_publishing_resumes_after(
    tmp_path: Path,
) -> None:
    broker = kafka.LocalBroker(kafka.repo_root(), tmp_path / "kafka", 19392, 19393)
    await asyncio.to_thread(kafka.start, broker)
    before, during, after = flood_alert(), flood_alert(), flood_alert()
    try:
        async with (
            running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
            running_gateway(
                tmp_path, broker.bootstrap, registry, kafka_send_timeout_seconds=3
            ) as gateway,
        ):
            auth = await registry.auth("liege-system", "liege-secret-123")
            accepted = await gateway.http.post("/v1/alerts", json=before, headers=auth)

            await asyncio.to_thread(kafka.stop, broker)
            # The client's bound turns a hang into a failure; the gateway's own is 3 s.
            refused = await gateway.http.post("/v1/alerts", json=during, headers=auth, timeout=30)
            unready = await gateway.http.get("/readyz", timeout=30)

            await asyncio.to_thread(kafka.start, broker)
            retried = await gateway.http.post("/v1/alerts", json=during, headers=auth, timeout=60)
            later = await gateway.http.post("/v1/alerts", json=after, headers=auth, timeout=60)
            on_log = await identifiers_on(broker.bootstrap, "alerts.geo")
    finally:
        await asyncio.to_thread(kafka.stop, broker)

    assert accepted.status_code == 202
    assert refused.status_code == 503
    assert refused.json()["code"] == "broker_unavailable"
    assert refused.headers["Retry-After"].isdigit()
    assert unready.status_code == 503
    assert unready.json()["checks"]["kafka"].startswith("unavailable")
    assert (retried.status_code, later.status_code) == (202, 202)
    assert {before["identifier"], during["identifier"], after["identifier"]} <= on_log
