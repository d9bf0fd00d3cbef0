"""Routing, table-driven: who receives an alert and why, on SQLite and on PostgreSQL.

The network is tests/registry/world.yaml; each case states the expected recipients with the
kinds of reason that reach them (area, agreement, escalation).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gateway_support import flood_alert
from registry_support import Registry, database_for, running_registry

from schemas import Category, NamedValue, parse_cap_xml, to_cap_json
from services.localnet import postgres

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()

LIEGE = "crisis@liege.example.org"
EUPEN = "krisen@eupen.example.org"
AVIQ = "surveillance@aviq.example.org"
GGD = "infectieziekten@ggdzl.example.org"
NCCN = "ncc@be.example.org"
LUX = "cgccr@lu.example.org"


def facts(sender: str, categories: list[str], severity: str, **extra: Any) -> dict[str, Any]:
    return {
        "sender": sender,
        "status": extra.pop("status", "Actual"),
        "categories": categories,
        "severity": severity,
        "sent": extra.pop("sent", NOW),
        **extra,
    }


# Drawn over Liège (BE332), and around Eupen (BE336), on Eurostat's NUTS 2021 outlines.
OVER_LIEGE = "50.60,5.50 50.70,5.50 50.70,5.65 50.60,5.65 50.60,5.50"
AROUND_EUPEN = "50.63,6.03 3.0"

# (case, facts, {contact point: reason kinds})
CASES: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    (
        "a polygon over Liège reaches who acts there, not Eupen's desk (by area)",
        facts(LIEGE, ["Geo"], "Severe", polygons=[OVER_LIEGE]),
        {
            "be-eupen-desk": ["agreement"],
            "be-nccn-duty": ["area", "escalation"],
            "nl-limburg-duty": ["agreement"],
        },
    ),
    (
        "a circle around Eupen reaches its desk by area, as naming BE336 would",
        facts(LIEGE, ["Geo"], "Severe", circles=[AROUND_EUPEN]),
        {
            "be-eupen-desk": ["area", "agreement"],
            "be-nccn-duty": ["area", "escalation"],
            "nl-limburg-duty": ["agreement"],
        },
    ),
    (
        "Liège flood reaches its area, the Meuse partners and the escalation contact",
        facts(LIEGE, ["Geo"], "Severe", regions=["BE33"]),
        {
            "be-eupen-desk": ["area", "agreement"],
            "be-nccn-duty": ["area", "escalation"],
            "nl-limburg-duty": ["agreement"],
        },
    ),
    (
        "below the Meuse agreement's minimum severity only the area is reached",
        facts(LIEGE, ["Geo"], "Minor", regions=["BE33"]),
        {"be-eupen-desk": ["area"], "be-nccn-duty": ["area"]},
    ),
    (
        "a flood exercise travels only through the agreement that covers exercises",
        facts(LIEGE, ["Geo"], "Severe", regions=["BE33"], status="Exercise"),
        {
            "be-eupen-desk": ["agreement"],
            "be-nccn-duty": ["escalation"],
            "nl-limburg-duty": ["agreement"],
        },
    ),
    (
        "a Test message is routed like an exercise",
        facts(LIEGE, ["Geo"], "Severe", regions=["BE33"], status="Test"),
        {
            "be-eupen-desk": ["agreement"],
            "be-nccn-duty": ["escalation"],
            "nl-limburg-duty": ["agreement"],
        },
    ),
    (
        "an epidemic indicator reaches the health partners and the national centre",
        facts(AVIQ, ["Health"], "Moderate", regions=["BE33"], event_codes=["epidemic.indicator"]),
        {
            "be-nccn-duty": ["area"],
            "de-nrw-lagezentrum": ["agreement", "escalation"],
            "nl-ggd-health": ["agreement"],
        },
    ),
    (
        "a health exercise goes nowhere: the health agreement excludes exercises",
        facts(AVIQ, ["Health"], "Moderate", regions=["BE33"], status="Exercise"),
        {},
    ),
    (
        "a competence narrowed to event codes ignores other health alerts",
        facts(GGD, ["Health"], "Moderate", regions=["NL42"], event_codes=["heat.health"]),
        {"de-nrw-lagezentrum": ["agreement", "escalation"]},
    ),
    (
        "a fire across the border reaches each side by area",
        facts(EUPEN, ["Fire"], "Extreme", regions=["BE336", "DEA2D"]),
        {
            "be-liege-duty": ["area"],
            "be-nccn-duty": ["area"],
            "de-aachen-leitstelle": ["area"],
            "de-nrw-lagezentrum": ["area"],
        },
    ),
    (
        "an expired agreement is ignored",
        facts(LIEGE, ["Fire"], "Severe"),
        {},
    ),
    (
        "the same agreement applied while it was valid (by the alert's sent time)",
        facts(LIEGE, ["Fire"], "Severe", sent="2019-06-01T10:00:00+02:00"),
        {"fr-metz-cogic": ["agreement"]},
    ),
    (
        "an agreement not yet in force is ignored",
        facts(LUX, ["Geo"], "Minor"),
        {},
    ),
    (
        "an agreement reached exactly at its minimum severity applies",
        facts(NCCN, ["Met"], "Severe"),
        {"de-nrw-lagezentrum": ["agreement"], "lu-duty": ["agreement", "escalation"]},
    ),
    (
        "one step below the minimum severity it does not",
        facts(NCCN, ["Met"], "Moderate"),
        {},
    ),
    (
        "Unknown severity reaches no agreement",
        facts(NCCN, ["Met"], "Unknown"),
        {},
    ),
    (
        "a category no agreement covers reaches only the area",
        facts(NCCN, ["Transport"], "Extreme", regions=["NL42"]),
        {},
    ),
    (
        "a Draft is routed to nobody",
        facts(LIEGE, ["Geo"], "Extreme", regions=["BE33"], status="Draft"),
        {},
    ),
    (
        "a communication check reaches exactly the contact points it addresses",
        facts(
            NCCN,
            ["Safety"],
            "Minor",
            status="Exercise",
            addresses=["contact:fr-metz-cogic", "organisation:be-liege", "contact:nobody"],
        ),
        {"be-liege-duty": ["address"], "fr-metz-cogic": ["address"]},
    ),
    (
        "… an agreement's parties, whatever their competences, its sender's own desks included",
        facts(NCCN, ["Safety"], "Minor", status="Exercise", addresses=["agreement:benelux-nrw"]),
        {"be-nccn-duty": ["address"], "de-nrw-lagezentrum": ["address"], "lu-duty": ["address"]},
    ),
    (
        "… a party region's organisations, and those of a region around or within one named",
        facts(
            NCCN,
            ["Safety"],
            "Minor",
            status="Test",
            addresses=["agreement:meuse-flood", "region:DEA2D"],
        ),
        {
            cp: ["address"]
            for cp in (
                "be-eupen-desk",
                "be-liege-duty",
                "de-aachen-leitstelle",
                "de-nrw-lagezentrum",
                "nl-ggd-health",
                "nl-limburg-duty",
            )
        },
    ),
    (
        "… or the whole network",
        facts(NCCN, ["Safety"], "Minor", status="Exercise", addresses=["network:all"]),
        {
            cp: ["address"]
            for cp in (
                "be-aviq-health",
                "be-eupen-desk",
                "be-liege-duty",
                "be-nccn-duty",
                "de-aachen-leitstelle",
                "de-nrw-lagezentrum",
                "fr-metz-cogic",
                "lu-duty",
                "nl-ggd-health",
                "nl-limburg-duty",
            )
        },
    ),
    (
        "the sender's own contact points never receive its alert",
        facts(NCCN, ["Geo"], "Extreme", regions=["BE"]),
        {
            "be-eupen-desk": ["area"],
            "be-liege-duty": ["area"],
            "de-nrw-lagezentrum": ["agreement"],
            "lu-duty": ["agreement", "escalation"],
        },
    ),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def registry(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: postgres.PostgresServer,
) -> AsyncIterator[tuple[Registry, dict[str, str]]]:
    folder = tmp_path_factory.mktemp(f"routing-{request.param}")
    async with (
        database_for(request.param, postgres_server, folder) as url,
        running_registry(url, folder) as registry,
    ):
        yield registry, await registry.auth("notifier", "notifier-secret-123")


async def route(registry: tuple[Registry, dict[str, str]], body: dict[str, Any]) -> Any:
    client, headers = registry
    return await client.http.post("/v1/routing", json=body, headers=headers)


@pytest.mark.parametrize(("case", "given", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_routing_table(
    registry: tuple[Registry, dict[str, str]],
    case: str,
    given: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    response = await route(registry, {"facts": given})

    assert response.status_code == 200, response.text
    recipients = response.json()["recipients"]
    got = {r["contact_point"]: [reason["kind"] for reason in r["reasons"]] for r in recipients}
    assert got == expected, case
    # Stable order: by organisation, then contact point.
    keys = [(r["organisation"], r["contact_point"]) for r in recipients]
    assert keys == sorted(keys)
    for recipient in recipients:
        kinds = {reason["kind"] for reason in recipient["reasons"]}
        assert recipient["escalation_only"] == (kinds == {"escalation"})
        assert all(reason["detail"].endswith(".") for reason in recipient["reasons"])


async def test_answer_names_the_agreement_deadline_and_channels(
    registry: tuple[Registry, dict[str, str]],
) -> None:
    response = await route(registry, {"facts": facts(LIEGE, ["Geo"], "Severe", regions=["BE33"])})

    answer = response.json()
    by_id = {r["contact_point"]: r for r in answer["recipients"]}
    assert [a["id"] for a in answer["agreements"]] == ["meuse-flood"]
    limburg = by_id["nl-limburg-duty"]
    assert limburg["ack_deadline_minutes"] == 15
    assert limburg["reasons"][0]["agreement"] == "meuse-flood"
    assert limburg["channels"] == ["console", "email"]
    assert by_id["be-nccn-duty"]["ack_deadline_minutes"] is None


@pytest.mark.parametrize(
    ("languages", "contact", "language", "available"),
    [
        (["fr-BE", "nl-BE", "de-DE"], "be-eupen-desk", "de-DE", True),
        (["nl-BE", "fr-BE"], "be-eupen-desk", "fr-BE", True),
        (["nl-BE", "en-GB"], "be-eupen-desk", "en-GB", False),
        (["nl-BE"], "be-eupen-desk", "nl-BE", False),
        (["fr-BE", "nl-BE"], "nl-limburg-duty", "nl-BE", True),
    ],
)
async def test_language_is_the_first_preference_the_alert_carries(
    registry: tuple[Registry, dict[str, str]],
    languages: list[str],
    contact: str,
    language: str,
    available: bool,
) -> None:
    given = facts(LIEGE, ["Geo"], "Severe", regions=["BE33"], languages=languages)

    answer = (await route(registry, {"facts": given})).json()

    [recipient] = [r for r in answer["recipients"] if r["contact_point"] == contact]
    assert (recipient["language"], recipient["language_available"]) == (language, available)


async def test_a_cap_alert_is_routed_by_its_geocodes(
    registry: tuple[Registry, dict[str, str]],
) -> None:
    alert = parse_cap_xml(
        (Path(__file__).parent / "cap_corpus" / "valid" / "meuse_flood_update.xml").read_bytes()
    )
    info = alert.info[0]
    area = info.area[0].model_copy(
        update={"geocode": [NamedValue(value_name="NUTS3", value="BE336")]}
    )
    alert = alert.model_copy(
        update={
            "sender": LIEGE,
            "info": [info.model_copy(update={"area": [area], "category": [Category.GEO]})],
        }
    )

    answer = (await route(registry, {"alert": json.loads(to_cap_json(alert))})).json()

    assert answer["facts"]["regions"] == ["BE336"]
    assert "be-eupen-desk" in {r["contact_point"] for r in answer["recipients"]}


async def test_a_cap_alert_with_only_a_circle_is_routed_by_the_regions_it_touches(
    registry: tuple[Registry, dict[str, str]],
) -> None:
    alert = flood_alert()
    alert["info"][0]["area"] = [{"areaDesc": "Eupen", "circle": [AROUND_EUPEN]}]

    answer = (await route(registry, {"alert": alert})).json()

    assert answer["facts"]["regions"] == []
    assert answer["facts"]["circles"] == [AROUND_EUPEN]
    [eupen] = [r for r in answer["recipients"] if r["contact_point"] == "be-eupen-desk"]
    assert eupen["reasons"][0] == {
        "kind": "area",
        "region": "BE336",
        "agreement": None,
        "detail": "The alert's area is drawn over BE336, where "
        + eupen["organisation_name"]
        + " acts.",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"facts": facts("nobody@example.org", ["Geo"], "Severe")}, "facts.sender"),
        ({"facts": facts(LIEGE, ["Geo"], "Severe", regions=["BE33", "XX9"])}, "facts.regions[1]"),
        ({"facts": facts(LIEGE, ["Weather"], "Severe")}, "facts.categories[0]"),
        ({}, "body"),
    ],
)
async def test_bad_routing_requests_name_the_field(
    registry: tuple[Registry, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    response = await route(registry, body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


async def test_a_centre_previews_its_own_alerts_without_the_directorys_addresses(
    registry: tuple[Registry, dict[str, str]],
) -> None:
    client, _ = registry
    liege = await client.auth("liege-system", "liege-secret-123")

    own = await client.http.post(
        "/v1/routing", json={"facts": facts(LIEGE, ["Geo"], "Severe", regions=["BE33"])},
        headers=liege,
    )  # fmt: skip

    assert own.status_code == 200, own.text
    recipients = own.json()["recipients"]
    assert "nl-limburg-duty" in {r["contact_point"] for r in recipients}
    # GET /v1/contact-points is refused to this token: the preview does not open the directory.
    assert [r["email"] for r in recipients] == [None] * len(recipients)
    directory = await client.http.get("/v1/contact-points", headers=liege)
    assert directory.status_code == 403


@pytest.mark.parametrize("sender", ["meldkamer@vrzl.example.org", "nobody@example.org"])
async def test_a_centre_may_not_preview_another_senders_routing(
    registry: tuple[Registry, dict[str, str]], sender: str
) -> None:
    client, _ = registry
    liege = await client.auth("liege-system", "liege-secret-123")

    foreign = await client.http.post(
        "/v1/routing", json={"facts": facts(sender, ["Geo"], "Severe", regions=["NL42"])},
        headers=liege,
    )  # fmt: skip

    assert foreign.status_code == 403, foreign.text
    assert foreign.json()["code"] == "not_own_sender"
    assert foreign.json()["field"] == "facts.sender"
    assert "recipients" not in foreign.json()


async def test_a_preview_may_carry_a_whole_large_alert_but_not_more(
    registry: tuple[Registry, dict[str, str]],
) -> None:
    client, _ = registry
    liege = await client.auth("liege-system", "liege-secret-123")
    alert = flood_alert()
    alert["info"][0]["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "BE33"}]
    alert["info"][0]["description"] = "Situation report. " * 50_000  # 900 KB, under CAP's 1 MiB
    # An external source's alert (schemas.cap_ingest) may be 8 MiB; its facts about as much.
    oversized = b'{"alert": {"note": "' + b"x" * (17 * 1024 * 1024) + b'"}}'

    large = await client.http.post("/v1/routing", json={"alert": alert}, headers=liege)
    refused = await client.http.post(
        "/v1/routing", content=oversized, headers=liege | {"content-type": "application/json"}
    )

    assert large.status_code == 200, large.text[:300]
    assert refused.status_code == 413
