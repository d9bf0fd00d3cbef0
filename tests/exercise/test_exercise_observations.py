"""An exercise's observations raise the threshold evaluator's alerts as part of the run: they
carry the run's note and identifiers of the run, each run keeps series of its own (two runs of
one scenario in the same week each raise their alert), and the run's report counts them for
the observations that caused them.

AViQ reports three weeks of the 14-day rate in Liège (60, 70, 80: Moderate, confirmed by two
weeks); for the exercise the Euregio health agreement applies to exercises, so the alert
reaches the NRW situation centre (tests/registry/world.yaml).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from evaluator_support import running_evaluator, version
from exercise_support import mentions, on_real_topics, served_network
from gateway_support import envelopes_on
from notifier_support import Network, ids

from schemas.cap import Status
from schemas.envelopes import AlertPublished
from services.exercise.collect import delivery_reports, raised_reports
from services.exercise.report import build_report
from services.exercise.runner import Client, Endpoints, ExerciseRun
from services.exercise.scenario import load_scenario

AVIQ = Client("aviq-system", "aviq-secret-123")
PLANNER = Client("planner", "planner-secret-123")
NRW = "de-nrw-lagezentrum"


@dataclass
class World:
    network: Network
    endpoints: Endpoints
    scenario: Path
    runs: Path
    rule: str
    kafka: str

    async def run(self) -> Any:
        player = ExerciseRun(
            load_scenario(self.scenario), {"be-aviq": AVIQ}, self.endpoints, 600, runs=self.runs
        )
        return await player.play()

    async def raised(self, run_id: str) -> list[AlertPublished]:
        """The run's alerts raised by the evaluator, once there is one."""
        marker = f"crossalert.exercise.{run_id}."
        async with asyncio.timeout(60):
            while not (found := [
                e for e in await envelopes_on(self.kafka, "exercise.alerts.health")
                if isinstance(e, AlertPublished) and e.alert.identifier.startswith(marker)
            ]):  # fmt: skip
                await asyncio.sleep(0.5)
        return found


@pytest.fixture
async def world(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[World]:
    async with served_network(tmp_path, kafka_bootstrap, registry_changes=True) as (
        network,
        endpoints,
    ):
        registry = network.registry
        admin = await registry.auth("admin", "admin-secret-123")
        agreement = await registry.http.get("/v1/agreements/euregio-health", headers=admin)
        exercised = {k: v for k, v in agreement.json().items() if k != "version"}
        exercised["applies_to_exercises"] = True
        changed = await registry.http.put(
            "/v1/agreements/euregio-health", json=exercised,
            headers=admin | {"If-Match": agreement.headers["ETag"]},
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
        rule = f"exercise-rate-{uuid.uuid4().hex[:6]}"
        created = await registry.http.post(
            "/v1/threshold-rules", json=version(id=rule, no_data_after="P90D"),
            headers=await registry.auth("aviq-system", "aviq-secret-123"),
        )  # fmt: skip
        assert created.status_code == 201, created.text
        scenario = tmp_path / "epidemic.yaml"
        scenario.write_text(yaml.safe_dump({
            "name": "Liège wave drill",
            "participants": {"organisations": ["be-aviq", "de-nrw"]},
            "timeline": [{
                "name": "liege-figures", "at": "00:00:00", "from": "be-aviq",
                "observations": [
                    {"indicator": "rate-14d", "region": "BE33", "period": f"W-{back}",
                     "value": value}
                    for back, value in ((3, 60), (2, 70), (1, 80))
                ],
                "expect": {"received_by": [NRW], "acknowledged_by": [NRW], "within": "PT60S"},
            }],
        }, allow_unicode=True), encoding="utf-8")  # fmt: skip
        async with running_evaluator(tmp_path, kafka_bootstrap, registry, network.gateway.http):
            yield World(network, endpoints, scenario, tmp_path / "runs", rule, kafka_bootstrap)


async def test_a_runs_observations_raise_alerts_of_that_run_and_count_in_its_report(
    world: World,
) -> None:
    nrw = await world.network.console(NRW)

    first = await world.run()
    [raised] = await world.raised(first.run_id)
    alert = raised.alert
    assert alert.status is Status.EXERCISE and alert.sender == "surveillance@aviq.example.org"
    assert alert.identifier == f"crossalert.exercise.{first.run_id}.{world.rule}.BE33.1"
    assert alert.note is not None
    assert alert.note.startswith(f"Exercise Liège wave drill — run {first.run_id}. Raised by")
    await nrw.wait_for(lambda c: alert.identifier in ids(c), what="the raised alert")
    acknowledged = await world.network.notifier.http.post(
        f"/v1/alerts/{alert.sender}/{alert.identifier}/acknowledgements",
        json={"note": "drill"}, headers={"Authorization": f"Bearer {nrw.token}"},
    )  # fmt: skip
    assert acknowledged.status_code == 201, acknowledged.text

    # The same scenario again, the same weeks: a series of its own, an alert of its own.
    second = await world.run()
    [again] = await world.raised(second.run_id)
    assert again.alert.identifier == f"crossalert.exercise.{second.run_id}.{world.rule}.BE33.1"

    reports = {}
    for record in (first, second):
        raised_now = await raised_reports(record, PLANNER, world.endpoints)
        assert [r.alert.identifier for r in raised_now] == [
            f"crossalert.exercise.{record.run_id}.{world.rule}.BE33.1"
        ]
        sent = await delivery_reports(record, {"be-aviq": AVIQ}, world.endpoints)
        reports[record.run_id] = build_report(
            record, sent, now=datetime.now(UTC), raised=raised_now
        )
    made, redone = reports[first.run_id], reports[second.run_id]
    assert made.timeline[0].raised == [alert.identifier]
    results = {(e.expected, e.met) for e in made.expectations}
    assert results == {("receive", True), ("acknowledge", True)}
    [row] = [r for r in made.contact_points if r.contact_point == NRW]
    assert row.acknowledged.count == 1 and row.messages == 1
    assert {(e.expected, e.met) for e in redone.expectations} == {
        ("receive", True), ("acknowledge", False),
    }  # fmt: skip
    assert not [
        e for e in await on_real_topics(world.kafka)
        if mentions(e, f"crossalert.exercise.{first.run_id}.")
    ]  # fmt: skip
    await nrw.disconnect()
