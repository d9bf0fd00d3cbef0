"""The AsyncAPI document of the topics: generated from the contract, committed, and true to it.

Every topic the network uses is a channel with its producers' and consumers' operations; each
message's payload is its envelope's JSON Schema, which a real envelope satisfies; every
reference resolves inside the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema
import pytest
from gateway_support import flood_alert

from schemas.asyncapi import asyncapi_document
from schemas.cap import validate_alert
from schemas.envelopes import AlertKey, AlertPublished
from schemas.errors import IngestWarning
from schemas.topics import TOPICS, all_topic_names, route
from services.cli import ASYNCAPI_FILE, render_schema
from services.common.app import service_app
from services.common.settings import ServiceSettings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def test_the_committed_document_is_the_generated_one(document: dict[str, Any]) -> None:
    # `crossalert export-schemas` rewrites it.
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == render_schema(document)


def test_every_topic_is_a_channel_written_and_read_by_its_services(
    document: dict[str, Any],
) -> None:
    channels = document["channels"]
    assert sorted(c["address"] for c in channels.values()) == all_topic_names()
    for spec in TOPICS:
        for channel_id, channel in channels.items():
            if channel["address"].removeprefix("exercise.") != spec.name:
                continue
            operations = {
                (name.split(".")[0], op["action"])
                for name, op in document["operations"].items()
                if op["channel"]["$ref"] == f"#/channels/{channel_id}"
            }
            assert operations == {(p, "send") for p in spec.producers} | {
                (c, "receive") for c in spec.consumers
            }, channel_id
            (message,) = channel["messages"].values()
            resolved = resolve(document, message["$ref"])
            assert resolved["name"] == spec.envelope.model_fields["type"].default
            assert resolved["bindings"]["kafka"]["key"]["description"] == spec.key


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    references = list(refs(document))
    assert len(references) > 50
    for reference in references:
        resolve(document, reference)


def test_a_real_envelope_satisfies_its_messages_payload_and_a_broken_one_does_not(
    document: dict[str, Any],
) -> None:
    alert = validate_alert(flood_alert())
    envelope = AlertPublished(
        producer="alert_gateway",
        alert=alert,
        chain=AlertKey(sender=alert.sender, identifier=alert.identifier),
        chain_category=alert.info[0].category[0],
        client_id="liege-system",
        received_at=datetime.now(UTC),
        warnings=[IngestWarning(field="alert", code="cap_1_1", message="1.1", action="repaired")],
        original=b"<alert/>",
    )
    topic, _ = route(envelope)
    channel = next(c for c in document["channels"].values() if c["address"] == topic)
    (message,) = channel["messages"].values()
    payload = resolve(document, message["$ref"])["payload"]
    schema = {**payload, "components": document["components"]}
    instance = json.loads(envelope.model_dump_json(by_alias=True))

    jsonschema.validate(instance, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**instance, "chain": "not a key"}, schema)


async def test_every_service_serves_it_beside_its_openapi(document: dict[str, Any]) -> None:
    app = service_app(ServiceSettings(service_name="tests"), title="t", description="d", checks={})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as http:
        served = await http.get("/asyncapi.json")

    assert served.status_code == 200
    assert served.json() == document


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = document
    for part in reference[2:].split("/"):
        node = node[part]
    return node
