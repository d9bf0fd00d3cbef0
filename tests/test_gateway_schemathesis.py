"""Schemathesis over the gateway's OpenAPI schema, against the real gateway, registry and broker.

Every operation is called with the cases schemathesis derives from the schema the running app
serves (positive cases, and negative ones where there is a body to break), with a valid token
of `liege-system` on every call; then again with no token and with bad ones. Whatever is sent,
the gateway never answers 5xx (the broker is up, so not even 503) and every 4xx is an
application/problem+json body with a `code` and a `detail`.

The app runs on the test's event loop (its producer, database engine and token verifier belong
to it); Hypothesis runs in a worker thread and hands each request to that loop.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gateway_support import Gateway, flood_alert, running_gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_support import Registry, running_registry
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi import unregister_string_format

from schemas import parse_cap_json, to_cap_xml
from services.registry.identity import load_or_create_signing_key

CAP_XML = "application/cap+xml"
CAP_XML_FORMAT = "CAP 1.2 XML"  # the `format` the gateway's schema gives its XML body
CAP_ALERT_SCHEMA = Path(__file__).parents[1] / "schemas" / "jsonschema" / "cap-alert.schema.json"
PROBLEM_JSON = "application/problem+json"
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]
REQUEST_TIMEOUT = 30.0  # seconds; a bound on a hang, not an assertion on speed

# Bounded and reproducible: the same cases on every run, no example database, no deadline.
FUZZ = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Negative bodies of the full CAP schema are costly to generate (Hypothesis mutates long
# pattern-bound strings): fewer of them keep the run short.
NEGATIVE = settings(FUZZ, max_examples=25)
FEW = settings(FUZZ, max_examples=10)


@dataclass
class World:
    registry: Registry
    gateway: Gateway
    token: str
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
            key = load_or_create_signing_key(state / "signing-key.pem")
            yield World(registry, gateway, token, key, schema)
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


def request_of(
    case: Case, headers: dict[str, str]
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Method, URL, headers and httpx body arguments of a schemathesis case."""
    kwargs = case.as_transport_kwargs(base_url="http://gateway", headers=headers)
    sent_headers = {k: v for k, v in kwargs["headers"].items() if v is not None}
    if case.media_type == CAP_XML and isinstance(case.body, str):
        # The XML body as the document itself (schemathesis would wrap a string in <data>).
        body: dict[str, Any] = {"content": case.body.encode()}
    elif "json" in kwargs:
        body = {"json": kwargs["json"]}
    elif "data" in kwargs:
        data = kwargs["data"]
        body = {"content": data.encode() if isinstance(data, str) else data}
    else:
        body = {}
    assert not kwargs.get("cookies"), "the gateway's schema declares no cookies"
    return kwargs["method"], kwargs["url"], sent_headers, body


def check_answer(answer: httpx.Response, where: str) -> None:
    """No 5xx; every 4xx is problem+json with a code and a detail."""
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text}"
    if 400 <= answer.status_code < 500:
        assert answer.headers["content-type"] == PROBLEM_JSON, f"{where}: {answer.headers}"
        problem = answer.json()
        assert isinstance(problem.get("code"), str) and problem["code"], f"{where}: {problem}"
        assert isinstance(problem.get("detail"), str) and problem["detail"], f"{where}: {problem}"
        assert problem["status"] == answer.status_code, f"{where}: {problem}"


Check = Callable[[Operation, httpx.Response, str], None]


async def fuzz(
    world: World, mode: GenerationMode, headers: dict[str, str], check: Check, config: settings
) -> dict[str, list[int]]:
    """Run Hypothesis over every operation in a worker thread; the statuses seen per operation.

    Requests go to the app on this event loop, which keeps serving while Hypothesis waits.
    """
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(_fuzz, loop, world, mode, headers, check, config)


def _fuzz(
    loop: asyncio.AbstractEventLoop,
    world: World,
    mode: GenerationMode,
    headers: dict[str, str],
    check: Check,
    config: settings,
) -> dict[str, list[int]]:
    statuses: dict[str, list[int]] = {}
    for result in world.schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # a body-less operation of string path parameters has nothing to break
        statuses[operation.label] = _fuzz_one(loop, world, operation, mode, headers, check, config)
    return statuses


def _fuzz_one(
    loop: asyncio.AbstractEventLoop,
    world: World,
    operation: Operation,
    mode: GenerationMode,
    headers: dict[str, str],
    check: Check,
    config: settings,
) -> list[int]:
    seen: list[int] = []

    @config
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Case) -> None:
        method, url, sent, body = request_of(case, headers)
        request = world.gateway.http.request(
            method, url, headers=sent, timeout=REQUEST_TIMEOUT, **body
        )
        future = asyncio.run_coroutine_threadsafe(bounded(request), loop)
        answer = future.result(timeout=REQUEST_TIMEOUT + 5)
        seen.append(answer.status_code)
        where = f"{method} {url} {body!r:.300}"
        check_answer(answer, where)
        check(operation, answer, where)

    call()
    return seen


async def bounded(request: Any) -> httpx.Response:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        answer: httpx.Response = await request
        return answer


def protected(operation: Operation) -> bool:
    return operation.path.startswith("/v1/")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
async def test_with_a_valid_token_no_call_gets_a_server_error(
    world: World, mode: GenerationMode
) -> None:
    def authenticated(operation: Operation, answer: httpx.Response, where: str) -> None:
        assert answer.status_code != 401, f"{where}: a valid token was refused: {answer.text}"
        if answer.status_code == 403:
            assert answer.json()["code"] != "insufficient_scope", where

    auth = {"Authorization": f"Bearer {world.token}"}
    config = NEGATIVE if mode is GenerationMode.NEGATIVE else FUZZ
    statuses = await fuzz(world, mode, auth, authenticated, config)

    assert all(statuses.values()), statuses
    posted = set(statuses["POST /v1/alerts"])
    assert any(400 <= status < 500 for status in posted), posted
    if mode is GenerationMode.POSITIVE:
        # The fuzzing got past every check to the broker, too (exercise, test and draft only).
        assert posted & {200, 202}, posted


def bad_tokens(valid: str, registry_key: Ed25519PrivateKey) -> dict[str, dict[str, str]]:
    """No token, and tokens the gateway must refuse (401) before reading anything else."""
    header, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = jwt.get_unverified_header(valid)["kid"]
    jose = {"kid": kid, "typ": "at+jwt"}
    impersonating = base64.urlsafe_b64encode(
        json.dumps(claims | {"sender": "meldkamer@vrzl.example.org", "regions": ["NL"]}).encode()
    ).rstrip(b"=")
    hour_ago = int(time.time()) - 3600

    def signed(key: Ed25519PrivateKey | None, **changes: Any) -> dict[str, str]:
        fresh = claims | {"jti": str(uuid.uuid4())} | changes
        if key is None:
            token = jwt.encode(fresh, "", algorithm="none", headers=jose)
        else:
            token = jwt.encode(fresh, key, algorithm="EdDSA", headers=jose)
        return {"Authorization": f"Bearer {token}"}

    return {
        "none": {},
        "not_a_jwt": {"Authorization": "Bearer not-a-token"},
        "basic": {"Authorization": "Basic bGllZ2Utc3lzdGVtOmxpZWdlLXNlY3JldC0xMjM="},
        "tampered": {"Authorization": f"Bearer {header}.{impersonating.decode()}.{signature}"},
        "foreign_key": signed(Ed25519PrivateKey.generate()),
        "alg_none": signed(None),
        "expired": signed(registry_key, iat=hour_ago - 300, exp=hour_ago),
        "other_issuer": signed(registry_key, iss="someone-else"),
    }


BAD_TOKENS = [
    "none",
    "not_a_jwt",
    "basic",
    "tampered",
    "foreign_key",
    "alg_none",
    "expired",
    "other_issuer",
]


@pytest.mark.parametrize("variant", BAD_TOKENS)
async def test_without_a_valid_token_protected_calls_get_401_and_nothing_breaks(
    world: World, variant: str
) -> None:
    headers = bad_tokens(world.token, world.registry_key)[variant]

    def refused(operation: Operation, answer: httpx.Response, where: str) -> None:
        if not protected(operation):
            assert answer.status_code == 200, where
            return
        # A path parameter holding "/" leaves the route (404) before any token is looked at.
        assert answer.status_code in (401, 404), f"{where}: {answer.status_code} {answer.text}"
        if answer.status_code == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer"), where
            expected = {
                "none": "missing_token",
                "basic": "missing_token",
                "expired": "expired_token",
            }
            assert answer.json()["code"] == expected.get(variant, "invalid_token"), where

    statuses = await fuzz(world, GenerationMode.POSITIVE, headers, refused, FEW)

    assert "POST /v1/alerts" in statuses
    assert 401 in statuses["POST /v1/alerts"]
