"""Schemathesis over the gateway's OpenAPI schema, against the real gateway, registry and broker.

The harness is tests/schemathesis_support.py: no 5xx whatever is sent (the broker is up, so not
even 503), every 4xx a problem document, every answer as the schema says; with a valid token
of `liege-system` on every call (of `officer.liege` on the composer's), then with no token and
with bad ones.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gateway_support import Gateway, flood_alert, running_gateway
from hypothesis import strategies as st
from registry_support import Registry, running_registry
from schemathesis import GenerationMode
from schemathesis.specs.openapi import unregister_string_format
from schemathesis_support import (
    BAD_TOKENS,
    FEW,
    FUZZ,
    NEGATIVE,
    Operation,
    authenticated,
    bad_tokens,
    fuzz,
    refused_without_a_valid_token,
)

from schemas import parse_cap_json, to_cap_xml
from services.registry.identity import load_or_create_signing_key

CAP_XML = "application/cap+xml"
CAP_XML_FORMAT = "CAP 1.2 XML"  # the `format` the gateway's schema gives its XML body
CAP_ALERT_SCHEMA = Path(__file__).parents[1] / "schemas" / "jsonschema" / "cap-alert.schema.json"


@dataclass
class World:
    registry: Registry
    gateway: Gateway
    token: str
    officer_token: str
    registry_key: Ed25519PrivateKey
    schema: schemathesis.BaseSchema


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[World]:
    state = tmp_path_factory.mktemp("gateway-schemathesis")
    schemathesis.openapi.format(CAP_XML_FORMAT, cap_documents())
    try:
        async with (
            running_registry(f"sqlite+aiosqlite:///{state / 'r.sqlite3'}", state) as registry,
            # Far above what the run sends: the fuzzing is meant to reach the alert's reading,
            # not the rate limiter (tests/test_gateway.py covers that).
            running_gateway(
                state, kafka_bootstrap, registry, rate_limit_per_minute=100_000
            ) as gateway,
        ):
            served = await gateway.http.get("/openapi.json")
            assert served.status_code == 200
            schema = schemathesis.openapi.from_dict(with_cap_alert_schema(served.json()))
            token = await registry.token("liege-system", "liege-secret-123")
            # The composer's routes are a duty officer's (alerts:compose, alerts:approve).
            officer = await registry.http.post(
                "/v1/oauth/token",
                data={"grant_type": "password", "username": "officer.liege",
                      "password": "liege-password-1"},
            )  # fmt: skip
            assert officer.status_code == 200, officer.text
            key = load_or_create_signing_key(state / "signing-key.pem")
            officer_token = officer.json()["access_token"]
            yield World(registry, gateway, token, officer_token, key, schema)
    finally:
        unregister_string_format(CAP_XML_FORMAT)


def with_cap_alert_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """The served schema, its JSON alert body replaced by the JSON Schema its description names.

    The route declares the JSON body as `{"type": "object"}` and points at
    schemas/jsonschema/cap-alert.schema.json; fuzzing with that schema reaches past "missing
    field" into the CAP rules, authorisation and publishing.
    """
    openapi = copy.deepcopy(openapi)
    alert = json.loads(CAP_ALERT_SCHEMA.read_text())
    defs = alert.pop("$defs")
    for key in ("$schema", "$id"):
        alert.pop(key, None)
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in defs.items():
        components[f"Cap{name}"] = definition
    components["CapAlert"] = alert
    text = json.dumps(openapi).replace('"#/$defs/', '"#/components/schemas/Cap')
    openapi = json.loads(text)
    body = openapi["paths"]["/v1/alerts"]["post"]["requestBody"]["content"]
    assert "cap-alert.schema.json" in body["application/json"]["schema"]["description"]
    body["application/json"]["schema"] = {"$ref": "#/components/schemas/CapAlert"}
    result: dict[str, Any] = openapi
    return result


def cap_documents() -> st.SearchStrategy[str]:
    """CAP XML bodies: valid Liège alerts (exercise, test or draft), the same mangled, and noise.

    The valid ones carry only exercise, test or draft statuses, so none lands on a real topic.
    """
    xml_text = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cn")), max_size=60)

    @st.composite
    def valid(draw: st.DrawFn) -> str:
        alert = flood_alert(
            identifier=f"FUZZ-{draw(st.uuids(version=4)).hex[:12]}",
            status=draw(st.sampled_from(["Exercise", "Test", "Draft"])),
            note=draw(xml_text),
            sent="2026-03-01T08:00:00+01:00",  # not now(): the same draw is the same document
        )
        alert["info"][0]["headline"] = draw(xml_text)
        return to_cap_xml(parse_cap_json(json.dumps(alert))).decode()

    @st.composite
    def mangled(draw: st.DrawFn) -> str:
        document = draw(valid())
        at = draw(st.integers(0, len(document)))
        cut = draw(st.integers(0, 40))
        return document[:at] + draw(st.text(max_size=30)) + document[at + cut :]

    return st.one_of(valid(), mangled(), st.text(max_size=200))


def protected(operation: Operation) -> bool:
    return operation.path.startswith("/v1/")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
async def test_with_a_valid_token_no_call_gets_a_server_error(
    world: World, mode: GenerationMode
) -> None:
    auth = {"Authorization": f"Bearer {world.token}"}
    officer = {"Authorization": f"Bearer {world.officer_token}"}

    def token_for(operation: Operation) -> dict[str, str]:
        return officer if operation.path.startswith("/v1/compositions") else auth

    config = NEGATIVE if mode is GenerationMode.NEGATIVE else FUZZ
    statuses = await fuzz(
        world.gateway.http, world.schema, mode, token_for, authenticated(protected), config
    )

    assert all(statuses.values()), statuses
    posted = set(statuses["POST /v1/alerts"])
    assert any(400 <= status < 500 for status in posted), posted
    if mode is GenerationMode.POSITIVE:
        # The fuzzing got past every check to the broker, too (exercise, test and draft only).
        assert posted & {200, 202}, posted


@pytest.mark.parametrize("variant", list(BAD_TOKENS))
async def test_without_a_valid_token_protected_calls_get_401_and_nothing_breaks(
    world: World, variant: str
) -> None:
    headers = bad_tokens(world.token, world.registry_key)[variant]
    refused = refused_without_a_valid_token(protected, variant)

    statuses = await fuzz(
        world.gateway.http, world.schema, GenerationMode.POSITIVE, lambda _: headers, refused, FEW
    )

    assert "POST /v1/alerts" in statuses
    assert 401 in statuses["POST /v1/alerts"]
