"""Agencies submit their observations to the gateway: JSON or their own CSV, checked row by row.

AViQ (tests/registry/world.yaml) acts for Wallonia (BE3) and is competent for Health; GGD
Zuid-Limburg acts for NL42. Liège's crisis centre holds no observations:submit scope.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import Gateway, envelopes_on, running_gateway
from registry_support import Registry, running_registry

from schemas.cap import Status
from schemas.envelopes import ObservationsReported
from schemas.observations import Observation

AVIQ = "surveillance@aviq.example.org"


@dataclass
class World:
    registry: Registry
    gateway: Gateway
    auth: dict[str, dict[str, str]]
    kafka: str

    async def submit(
        self,
        client: str,
        body: Any,
        *,
        csv: bool = False,
        status: str | None = None,
        note: str | None = None,
    ) -> httpx.Response:
        params = {"status": status} if status else {}
        if note is not None:
            params["note"] = note
        if csv:
            headers = self.auth[client] | {"Content-Type": "text/csv; charset=utf-8"}
            return await self.gateway.http.post(
                "/v1/observations", content=body, headers=headers, params=params
            )
        return await self.gateway.http.post(
            "/v1/observations", json=body, headers=self.auth[client], params=params
        )

    async def observations_on(self, topic: str, station: str) -> list[Observation]:
        """What the topic holds of one station (each test observes a station of its own)."""
        return [
            observation
            for envelope in await envelopes_on(self.kafka, topic)
            if isinstance(envelope, ObservationsReported)
            for observation in envelope.observations
            if observation.station == station
        ]


@pytest.fixture
async def world(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[World]:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
    ):
        clients = {"aviq": "aviq-secret-123", "ggd": "ggd-secret-123", "liege": "liege-secret-123"}
        auth = {
            name: await registry.auth(f"{name}-system", secret) for name, secret in clients.items()
        }
        yield World(registry, gateway, auth, kafka_bootstrap)


def station() -> str:
    return f"lab-{uuid.uuid4().hex[:8]}"


async def test_a_json_batch_is_published_per_place_with_not_reported_kept_apart(
    world: World,
) -> None:
    lab = station()
    rows = [
        {"indicator": "rate-14d", "region": "BE332", "station": lab, "period": "2026-W10",
         "value": 61.5},
        {"indicator": "positivity", "region": "BE332", "station": lab, "period": "2026-W10",
         "value": "-"},
        {"indicator": "rate-14d", "region": "BE332", "station": lab, "period": "2026-W09",
         "value": None, "status": "new"},
        {"indicator": "cases-weekly", "region": "BE332", "station": lab, "period": "2026-W10",
         "value": 12, "numerator": 12, "denominator": 480, "status": "revision"},
    ]  # fmt: skip

    response = await world.submit("aviq", rows)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer == {
        "rows": 4,
        "not_reported": 2,
        "places": [f"BE332/{lab}"],
        "topic": "observations",
    }
    stored = await world.observations_on("observations", lab)
    by_key = {(o.indicator, o.period): o for o in stored}
    assert len(stored) == 4
    assert by_key["rate-14d", "2026-W10"].value == 61.5
    assert by_key["positivity", "2026-W10"].value is None  # "-" is not 0
    assert by_key["rate-14d", "2026-W09"].value is None
    assert by_key["cases-weekly", "2026-W10"].revision is True
    assert by_key["cases-weekly", "2026-W10"].denominator == 480
    assert {o.source for o in stored} == {AVIQ}
    assert {o.unit for o in stored} >= {"per 100 000 in 14 days", "%"}


async def test_a_semicolon_csv_with_decimal_commas_is_read_as_agencies_export_it(
    world: World,
) -> None:
    lab = station()
    csv = (
        "indicator;region;station;period;value;numerator;denominator\n"
        f"rate-14d;BE332;{lab};2026-W11;72,25;;\n"
        f"rate-14d;BE332;{lab};2026-W12;-;;\n"
        "\n"
        f"cases-weekly;BE332;{lab};2026-W12;14;14;512,5\n"
    ).encode()

    response = await world.submit("aviq", csv, csv=True)

    assert response.status_code == 202, response.text
    stored = {(o.indicator, o.period): o for o in await world.observations_on("observations", lab)}
    assert stored["rate-14d", "2026-W11"].value == 72.25
    assert stored["rate-14d", "2026-W12"].value is None
    assert stored["cases-weekly", "2026-W12"].denominator == 512.5


async def test_every_wrong_row_of_a_csv_is_named_and_nothing_is_published(world: World) -> None:
    lab = station()
    csv = (
        "indicator,region,station,period,value\n"
        f"rate-14d,BE332,{lab},2026-W13,40\n"  # line 2: right
        f"rate-14d,BE332,{lab},2026-04-03,40\n"  # line 3: a day, not a week
        f"rate-14d,BE332,{lab},2026-W14,forty\n"  # line 4: not a number
        f"rate-14d,BE332,{lab},2026-W15,-3\n"  # line 5: below what a rate can be
        f"unheard-of,BE332,{lab},2026-W15,3\n"  # line 6: no such indicator
        f"rate-14d,BE332,{lab},2099-W01,3\n"  # line 7: a week not yet begun
    ).encode()

    response = await world.submit("aviq", csv, csv=True)

    assert response.status_code == 422
    body = response.json()
    problems = {(p["field"], p["code"]) for p in body["errors"]}
    assert problems == {
        ("rows[1].period", "invalid_period"),
        ("rows[2].value", "not_a_number"),
        ("rows[3].value", "implausible_value"),
        ("rows[4].indicator", "unknown_indicator"),
        ("rows[5].period", "future_period"),
    }
    assert [p["message"].split(":")[0] for p in body["errors"]] == [
        "line 3", "line 4", "line 5", "line 6", "line 7",
    ]  # fmt: skip
    assert body["field"] == "rows[1].period"
    assert await world.observations_on("observations", lab) == []


@pytest.mark.parametrize(
    ("client", "row", "status", "code", "field"),
    [
        # AViQ acts for Wallonia, not for Dutch Limburg.
        ("aviq", {"region": "NL423"}, 403, "outside_regions", "rows[0].region"),
        # AViQ is competent for Health, not for the Meuse's discharge (Geo).
        (
            "aviq",
            {"indicator": "meuse-discharge", "period": "2026-03-02T10:00:00+01:00"},
            403,
            "not_competent",
            "rows[0].indicator",
        ),
        ("aviq", {"unit": "per 1000"}, 422, "wrong_unit", "rows[0].unit"),
        ("aviq", {"status": "final"}, 422, "invalid_status", "rows[0].status"),
        ("aviq", {"colour": "red"}, 422, "unknown_column", "rows[0].colour"),
        # GGD acts for NL42: Belgian figures are not its to report.
        ("ggd", {}, 403, "outside_regions", "rows[0].region"),
        # Liège's crisis centre may report observations, but of none of its competences.
        ("liege", {}, 403, "not_competent", "rows[0].indicator"),
    ],
)
async def test_observations_beyond_the_agency_are_refused_with_the_field(
    world: World, client: str, row: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    lab = station()
    observation = {"indicator": "rate-14d", "region": "BE332", "station": lab,
                   "period": "2026-W10", "value": 50} | row  # fmt: skip

    response = await world.submit(client, [observation])

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json().get("field") == field
    assert await world.observations_on("observations", lab) == []


async def test_exercise_observations_travel_on_the_exercise_twin_only(world: World) -> None:
    lab = station()
    row = {"indicator": "rate-14d", "region": "BE332", "station": lab, "period": "2026-W10",
           "value": 900}  # fmt: skip

    response = await world.submit("aviq", [row], status="Exercise")

    assert response.status_code == 202, response.text
    assert response.json()["topic"] == "exercise.observations"
    [exercise] = await world.observations_on("exercise.observations", lab)
    assert exercise.status is Status.EXERCISE
    assert await world.observations_on("observations", lab) == []


async def test_an_exercise_runs_observations_carry_its_note_and_only_they_may(
    world: World,
) -> None:
    lab = station()
    row = {"indicator": "rate-14d", "region": "BE332", "station": lab, "period": "2026-W11",
           "value": 90}  # fmt: skip
    run = "Exercise Liège wave drill — run 20261203-0a1b2c"

    real = await world.submit("aviq", [row], note=run)
    unnamed = await world.submit("aviq", [row], status="Exercise", note="a drill")
    accepted = await world.submit("aviq", [row], status="Exercise", note=run)

    for refused in (real, unnamed):
        assert refused.status_code == 422, refused.text
        assert (refused.json()["code"], refused.json()["field"]) == ("invalid_note", "note")
    assert accepted.status_code == 202, accepted.text
    [exercise] = await world.observations_on("exercise.observations", lab)
    assert exercise.note == run


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "json_invalid"),
        (b"[1, 2]", "application/json", 422, "invalid_rows"),
        (b"[]", "application/json", 422, "no_rows"),
        (b"indicator,region\n", "text/csv", 422, "no_rows"),
        (b"<obs/>", "application/xml", 415, "unsupported_media_type"),
    ],
)
async def test_a_body_that_cannot_be_read_is_refused_as_a_whole(
    world: World, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = await world.gateway.http.post(
        "/v1/observations",
        content=body,
        headers=world.auth["aviq"] | {"Content-Type": content_type},
    )

    assert response.status_code == status
    assert response.json()["code"] == code
