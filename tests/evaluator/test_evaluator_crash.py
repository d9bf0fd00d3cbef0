"""The evaluator killed (`kill -9`) in the middle of an epidemic wave, then restarted: every
message the series call for reaches the broker, once, in its chain.

The evaluator runs as its own process (`crossalert serve evaluator`) against a registry and a
gateway served over HTTP on loopback and the real broker. Its guarantees under a crash come
from three places: readings, series records and the outbox are written in one transaction;
the observations' offsets are committed after it; an outbox message is sent again until the
gateway has it, as the same document, which the gateway answers as already accepted.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import uuid
from pathlib import Path

import httpx
from evaluator_support import recent_weeks, version
from gateway_support import envelopes_on, running_gateway
from notifier_support import (
    free_port,
    quiet,
    service_env,
    service_process,
    serving,
    until_ready,
)
from registry_support import running_registry

from schemas.cap import Alert
from schemas.envelopes import AlertPublished

AVIQ = "surveillance@aviq.example.org"
WEEKS = recent_weeks(9)
WAVES = {  # three places of Wallonia AViQ acts for; the chain each calls for
    "BE3": ([20, 60, 70, 200, 210, 90, 80, 30, 20],
            [("Alert", "Moderate"), ("Update", "Severe"), ("Update", "Moderate"),
             ("Cancel", "Moderate")]),
    "BE33": ([60, 70, 600, 650, 700, 30, 20, 20, 20],
             [("Alert", "Moderate"), ("Update", "Extreme"), ("Cancel", "Extreme")]),
    "BE336": ([10, 160, 170, 180, 190, 200, 210, 220, 230],
              [("Alert", "Severe")]),
}  # fmt: skip
KILLED_AFTER = 5
"""Weeks submitted before the kill: the first alerts are out, most of the wave is not."""


async def test_kill_9_mid_wave_then_restart_publishes_every_message_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    rule_id = f"crash-{uuid.uuid4().hex[:6]}"
    registry_port, gateway_port, evaluator_port = free_port(), free_port(), free_port()
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        serving(registry.app, registry_port, lifespan=False) as registry_url,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
        serving(gateway.app, gateway_port, lifespan=False) as gateway_url,
    ):
        aviq = await registry.auth("aviq-system", "aviq-secret-123")
        rule = version(id=rule_id, regions=list(WAVES), no_data_after="P90D")
        created = await registry.http.post("/v1/threshold-rules", json=rule, headers=aviq)
        assert created.status_code == 201, created.text
        env = service_env(
            "evaluator",
            http_port=evaluator_port,
            kafka_bootstrap_servers=kafka_bootstrap,
            registry_url=registry_url,
            gateway_url=gateway_url,
            registry_client_id="evaluator",
            registry_client_secret="evaluator-secret-123",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'evaluator.sqlite3'}",
            consumer_group=f"evaluator-{uuid.uuid4().hex[:8]}",
            consumer_start="latest",
            outbox_retry_seconds=0.2,
            log_format="json",
        )

        async def submit(week: int) -> None:
            rows = [
                {"indicator": "rate-14d", "region": region, "period": WEEKS[week],
                 "value": values[week]}
                for region, (values, _) in WAVES.items()
            ]  # fmt: skip
            answer = await gateway.http.post("/v1/observations", json=rows, headers=aviq)
            assert answer.status_code == 202, answer.text

        async def published() -> list[Alert]:
            return [
                e.alert
                for e in await envelopes_on(kafka_bootstrap, "alerts.health")
                if isinstance(e, AlertPublished)
                and e.alert.identifier.startswith(f"crossalert.{rule_id}.")
            ]

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{evaluator_port}") as http:
            with service_process("evaluator", env, tmp_path / "evaluator-1.log") as first:
                await until_ready(http)
                for week in range(3):
                    await submit(week)
                async with asyncio.timeout(60):  # the first alert: offsets were committed
                    while not await published():
                        await asyncio.sleep(0.2)
                for week in range(3, KILLED_AFTER):
                    await submit(week)
                first.send_signal(signal.SIGKILL)  # while the last weeks are being evaluated
                first.wait()
            at_kill = len(await published())
            for week in range(KILLED_AFTER, len(WEEKS)):
                await submit(week)  # they wait on the broker

            expected = sum(len(chain) for _, chain in WAVES.values())
            with service_process("evaluator", env, tmp_path / "evaluator-2.log"):
                await until_ready(http)
                async with asyncio.timeout(90):
                    while len(await published()) < expected:
                        await asyncio.sleep(0.3)
                await quiet(3)  # nothing more follows
                alerts = await published()

    assert 0 < at_kill < expected
    assert len({a.identifier for a in alerts}) == len(alerts), "a message published twice"
    for region, (_, chain) in WAVES.items():
        of_place = [a for a in alerts if a.info[0].area[0].geocode[0].value == region]
        assert [(a.msg_type.value, a.info[0].severity.value) for a in of_place] == chain, region
        for earlier, later in itertools.pairwise(of_place):
            assert [r.identifier for r in later.references] == [earlier.identifier], region
