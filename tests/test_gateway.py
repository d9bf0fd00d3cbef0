"""The alert gateway with a real broker and a real registry: what is accepted is on the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gateway_support import (
    LIEGE,
    Gateway,
    envelopes_on,
    flood_alert,
    follow_up,
    identifiers_on,
    record_at,
    running_gateway,
)
from registry_support import Registry, running_registry

from schemas import parse_cap_json, parse_cap_xml, to_cap_xml
from schemas.cap import Category
from schemas.envelopes import AlertKey, AlertPublished
from services.alert_gateway.ledger import Pending
from services.alert_gateway.service import digest_of


@pytest.fixture
async def world(
    tmp_path: Path, kafka_bootstrap: str
) -> AsyncIterator[tuple[Registry, Gateway, dict[str, str]]]:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
    ):
        yield registry, gateway, await registry.auth("liege-system", "liege-secret-123")


World = tuple[Registry, Gateway, dict[str, str]]


async def post(world: World, alert: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    _, gateway, auth = world
    return await gateway.http.post(
        "/v1/alerts", json=alert, headers=auth if headers is None else headers
    )


async def test_a_json_alert_is_on_the_log_when_answered(world: World, kafka_bootstrap: str) -> None:
    alert = flood_alert()

    answer = await post(world, alert)

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["sender"], body["identifier"], body["published"]) == (
        LIEGE,
        alert["identifier"],
        True,
    )
    assert body["topic"] == "alerts.geo"
    envelope = await record_at(kafka_bootstrap, body["topic"], body["partition"], body["offset"])
    assert envelope.alert == parse_cap_json(json.dumps(alert))
    assert envelope.client_id == "liege-system"
    assert (envelope.chain.sender, envelope.chain.identifier) == (LIEGE, alert["identifier"])


async def test_a_cap_xml_alert_is_on_the_log_when_answered(
    world: World, kafka_bootstrap: str
) -> None:
    _, gateway, auth = world
    document = to_cap_xml(parse_cap_json(json.dumps(flood_alert())))

    answer = await gateway.http.post(
        "/v1/alerts",
        content=document,
        headers=auth | {"Content-Type": "application/cap+xml"},
    )

    assert answer.status_code == 202, answer.text
    body = answer.json()
    envelope = await record_at(kafka_bootstrap, body["topic"], body["partition"], body["offset"])
    assert envelope.alert == parse_cap_xml(document)


async def test_the_same_alert_again_gets_the_same_answer_and_is_not_republished(
    world: World, kafka_bootstrap: str
) -> None:
    alert = flood_alert()

    first = await post(world, alert)
    again = await post(world, alert)

    assert again.status_code == 202
    assert again.json() == first.json()
    assert alert["identifier"] in await identifiers_on(kafka_bootstrap, "alerts.geo")


async def test_the_same_alert_sent_concurrently_is_written_to_the_log_once(
    world: World, kafka_bootstrap: str
) -> None:
    alert = flood_alert()

    answers = await asyncio.gather(*(post(world, alert) for _ in range(6)))

    published = [answer.json() for answer in answers if answer.status_code == 202]
    assert published and all(answer == published[0] for answer in published)
    # The others met the first request still waiting for the broker.
    assert all(
        answer.json()["code"] == "in_progress" and answer.headers["Retry-After"] == "1"
        for answer in answers
        if answer.status_code != 202
    )
    on_log = [
        envelope
        for envelope in await envelopes_on(kafka_bootstrap, "alerts.geo")
        if isinstance(envelope, AlertPublished) and envelope.alert.identifier == alert["identifier"]
    ]
    assert len(on_log) == 1


async def test_a_reservation_left_by_a_dead_request_is_published_by_the_next_attempt(
    world: World, kafka_bootstrap: str
) -> None:
    _, gateway, _ = world
    left, fresh = flood_alert(), flood_alert()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    ledger = gateway.app.state.ledger
    for document, received_at in ((left, an_hour_ago), (fresh, datetime.now(UTC))):
        alert = parse_cap_json(json.dumps(document))
        # What a request writes before it asks the broker, then dies.
        assert await ledger.reserve(
            Pending.of(
                alert,
                digest=digest_of(alert),
                chain=AlertKey(sender=alert.sender, identifier=alert.identifier),
                category=Category.GEO,
                client_id="liege-system",
                received_at=received_at,
            )
        )

    again = await post(world, left)
    meanwhile = await post(world, fresh)

    assert again.status_code == 202
    assert datetime.fromisoformat(again.json()["received_at"]) == an_hour_ago
    assert left["identifier"] in await identifiers_on(kafka_bootstrap, "alerts.geo")
    # A reservation younger than the send timeouts may belong to a request still running.
    assert meanwhile.status_code == 409
    assert meanwhile.json()["code"] == "in_progress"


async def test_another_alert_under_a_used_identifier_is_409(world: World) -> None:
    alert = flood_alert()
    await post(world, alert)

    changed = await post(world, alert | {"note": "different content"})

    assert changed.status_code == 409
    assert changed.json()["code"] == "identifier_taken"
    assert changed.json()["field"] == "identifier"


async def test_an_update_and_cancel_chain_lands_in_order_on_one_partition(
    world: World, kafka_bootstrap: str
) -> None:
    _, gateway, auth = world
    original = flood_alert()
    update = follow_up(original, "Update")
    cancel = follow_up(update, "Cancel", info=[])

    answers = [(await post(world, a)).json() for a in (original, update, cancel)]
    late = await post(world, follow_up(update, "Update"))
    state = await gateway.http.get(f"/v1/alerts/{LIEGE}/{original['identifier']}", headers=auth)
    update_state = await gateway.http.get(
        f"/v1/alerts/{LIEGE}/{update['identifier']}", headers=auth
    )

    assert {a["topic"] for a in answers} == {"alerts.geo"}
    assert len({a["partition"] for a in answers}) == 1
    offsets = [a["offset"] for a in answers]
    assert offsets == sorted(offsets)
    assert {a["chain"]["identifier"] for a in answers} == {original["identifier"]}
    for answer in answers:
        envelope = await record_at(
            kafka_bootstrap, answer["topic"], answer["partition"], answer["offset"]
        )
        assert envelope.chain.identifier == original["identifier"]
    assert late.status_code == 409
    assert late.json()["code"] == "chain_cancelled"
    assert state.json()["state"] == "cancelled"
    assert [k["identifier"] for k in state.json()["referenced_by"]] == [update["identifier"]]
    assert [k["identifier"] for k in update_state.json()["references"]] == [original["identifier"]]
    assert [k["identifier"] for k in update_state.json()["referenced_by"]] == [cancel["identifier"]]


async def test_exercise_traffic_never_reaches_a_real_topic(
    world: World, kafka_bootstrap: str
) -> None:
    exercise = flood_alert(status="Exercise", note="EXERCISE Meuse 2026")
    test = flood_alert(status="Test")

    answers = [(await post(world, a)).json() for a in (exercise, test)]

    assert [a["topic"] for a in answers] == ["exercise.alerts.geo", "exercise.alerts.geo"]
    real = await identifiers_on(kafka_bootstrap, "alerts.geo")
    assert exercise["identifier"] not in real
    assert test["identifier"] not in real
    assert exercise["identifier"] in await identifiers_on(kafka_bootstrap, "exercise.alerts.geo")


async def test_a_draft_is_validated_and_answered_but_not_published(world: World) -> None:
    _, gateway, auth = world
    draft = flood_alert(status="Draft")

    answer = await post(world, draft)
    state = await gateway.http.get(f"/v1/alerts/{LIEGE}/{draft['identifier']}", headers=auth)

    assert answer.status_code == 200
    assert answer.json()["published"] is False
    assert answer.json()["topic"] is None
    assert state.status_code == 404


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"sender": "ncc@be.example.org"}, "wrong_sender", "sender"),
        (
            {"info": [flood_alert()["info"][0] | {"category": ["Geo", "Health"]}]},
            "not_competent",
            "info[0].category[1]",
        ),
        (
            {
                "info": [
                    flood_alert()["info"][0]
                    | {
                        "area": [
                            {
                                "areaDesc": "Maastricht",
                                "geocode": [{"valueName": "NUTS2", "value": "NL42"}],
                            }
                        ]
                    }
                ]
            },
            "outside_regions",
            "info[0].area[0].geocode[0]",
        ),
    ],
)
async def test_each_authorisation_rule_refuses_naming_itself(
    world: World, change: dict[str, Any], code: str, field: str
) -> None:
    refused = await post(world, flood_alert(**change))

    assert refused.status_code == 403
    assert (refused.json()["code"], refused.json()["field"]) == (code, field)


def drawn(**area: list[str]) -> dict[str, Any]:
    """A Liège flood alert whose only area is drawn, not named."""
    return flood_alert(info=[flood_alert()["info"][0] | {"area": [{"areaDesc": "drawn", **area}]}])


async def test_a_drawn_area_must_touch_the_regions_the_sender_acts_for(world: World) -> None:
    # Liège acts for BE33; the outlines are Eurostat's NUTS 2021 (services/common/data).
    over_liege = "50.60,5.50 50.70,5.50 50.70,5.65 50.60,5.65 50.60,5.50"
    over_aachen = "50.74,6.05 50.80,6.05 50.80,6.15 50.74,6.15 50.74,6.05"
    # From Liège over the border to Maastricht: a flood does not stop at a border.
    liege_to_maastricht = "50.60,5.55 50.88,5.65 50.86,5.75 50.60,5.60 50.60,5.55"

    accepted = [
        await post(world, drawn(polygon=[over_liege])),
        await post(world, drawn(circle=["50.63,5.57 2"])),
        await post(world, drawn(polygon=[liege_to_maastricht])),
    ]
    polygon_outside = await post(world, drawn(polygon=[over_liege, over_aachen]))
    circle_outside = await post(world, drawn(circle=["49.12,6.18 5"]))  # Metz

    assert [a.status_code for a in accepted] == [202, 202, 202], [a.text for a in accepted]
    assert polygon_outside.status_code == 403
    assert (polygon_outside.json()["code"], polygon_outside.json()["field"]) == (
        "outside_regions",
        "info[0].area[0].polygon[1]",
    )
    assert circle_outside.status_code == 403
    assert circle_outside.json()["field"] == "info[0].area[0].circle[0]"


async def test_no_token_or_a_token_without_the_publish_scope_is_refused(world: World) -> None:
    registry, _, _ = world
    registry_reader = await registry.auth("reader", "reader-secret-123")
    reading_only = {
        "Authorization": "Bearer "
        + await registry.token("liege-system", "liege-secret-123", scope="alerts:read")
    }

    anonymous = await post(world, flood_alert(), headers={})
    not_for_the_gateway = await post(world, flood_alert(), headers=registry_reader)
    not_publisher = await post(world, flood_alert(), headers=reading_only)

    assert anonymous.status_code == 401
    # A token for the registry alone is not meant for the gateway at all.
    assert not_for_the_gateway.status_code == 401
    assert "not meant for this service" in not_for_the_gateway.json()["detail"]
    assert not_publisher.status_code == 403
    assert not_publisher.json()["code"] == "insufficient_scope"


async def test_follow_ups_must_reference_the_senders_own_accepted_alerts(
    world: World,
) -> None:
    registry, _, _ = world
    limburg = await registry.auth("limburg-system", "limburg-secret-123")
    theirs = flood_alert(
        sender="meldkamer@vrzl.example.org",
        info=[
            flood_alert()["info"][0]
            | {"area": [{"areaDesc": "Maas", "geocode": [{"valueName": "NUTS2", "value": "NL42"}]}]}
        ],
    )
    assert (await post(world, theirs, headers=limburg)).status_code == 202

    unknown = await post(world, follow_up(flood_alert(), "Update"))
    foreign = await post(world, follow_up(theirs, "Update"))

    assert (unknown.status_code, unknown.json()["field"]) == (422, "references[0]")
    assert unknown.json()["code"] == "unknown_reference"
    assert (foreign.status_code, foreign.json()["code"]) == (422, "foreign_reference")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'<!DOCTYPE a [<!ENTITY x "y">]><alert/>', "application/cap+xml", 400,
         "doctype_forbidden"),
        (b"<alert", "application/xml", 400, "malformed_xml"),
        (b"{", "application/json", 400, "json_invalid"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b'{"identifier": "x"}', "application/json", 422, "missing"),
        (b"x" * (1024 * 1024 + 1), "application/json", 413, "too_large"),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_problem_and_changes_nothing(
    world: World, content: bytes, content_type: str, status: int, code: str
) -> None:
    _, gateway, auth = world

    refused = await gateway.http.post(
        "/v1/alerts", content=content, headers=auth | {"Content-Type": content_type}
    )

    assert refused.status_code == status
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == code
    assert refused.json()["detail"]


async def test_a_client_over_its_rate_gets_429_with_retry_after(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry, rate_limit_per_minute=2) as gateway,
    ):
        auth = await registry.auth("liege-system", "liege-secret-123")
        answers = [
            await gateway.http.post("/v1/alerts", json=flood_alert(), headers=auth)
            for _ in range(3)
        ]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1


async def test_the_rate_holds_across_gateway_processes(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
) -> None:
    shared: dict[str, Any] = {"rate_limit_per_minute": 3, "database_url": database_url}
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry, **shared) as one,
        running_gateway(tmp_path, kafka_bootstrap, registry, **shared) as two,
    ):
        auth = await registry.auth("liege-system", "liege-secret-123")
        answers = [
            await gateway.http.post("/v1/alerts", json=flood_alert(), headers=auth)
            for gateway in (one, two, one, two)
        ]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[3].json()["code"] == "rate_limited"


async def test_every_request_writes_one_line_with_key_client_outcome_and_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
    ):
        auth = await registry.auth("liege-system", "liege-secret-123")
        alert = flood_alert()
        await gateway.http.post("/v1/alerts", json=alert, headers=auth)
        await gateway.http.post(
            "/v1/alerts", json=alert | {"sender": "x@example.org"}, headers=auth
        )

    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    requests = [
        line for line in lines if line.get("event") == "request" and line["path"] == "/v1/alerts"
    ]
    published, refused = requests
    assert published["status"] == 202
    assert published["client"] == "liege-system"
    assert published["alert"] == f"{LIEGE},{alert['identifier']}"
    assert published["outcome"] == "published"
    assert published["duration_ms"] > 0
    assert (refused["status"], refused["outcome"], refused["problem"]) == (
        403,
        "refused",
        "wrong_sender",
    )


async def test_the_gateway_keeps_accepting_while_the_registry_is_down(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path)
        )
        auth = await registry.auth("liege-system", "liege-secret-123")
        async with running_gateway(tmp_path, kafka_bootstrap, registry) as gateway:
            first = await gateway.http.post("/v1/alerts", json=flood_alert(), headers=auth)
            # The registry stops: its app and the client the gateway fetched keys with close.
            await stack.aclose()
            with pytest.raises(RuntimeError):
                await registry.http.get("/.well-known/jwks.json")
            second = await gateway.http.post("/v1/alerts", json=flood_alert(), headers=auth)

    assert (first.status_code, second.status_code) == (202, 202)


@pytest.mark.parametrize(
    ("where", "url"),
    [("web", "javascript:alert(document.cookie)"), ("web", " JaVaScRiPt:alert(1)"),
     ("uri", "data:text/html,<script>alert(1)</script>")],
)  # fmt: skip
async def test_a_link_that_is_not_http_is_refused_naming_its_field(
    world: World, kafka_bootstrap: str, where: str, url: str
) -> None:
    alert = flood_alert()
    if where == "web":
        alert["info"][0]["web"] = url
    else:
        alert["info"][0]["resource"] = [
            {"resourceDesc": "Plan", "mimeType": "text/html", "uri": url}
        ]

    refused = await post(world, alert)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_url"
    assert refused.json()["field"] == (
        "info[0].web" if where == "web" else "info[0].resource[0].uri"
    )
    assert alert["identifier"] not in await identifiers_on(kafka_bootstrap, "alerts.geo")
