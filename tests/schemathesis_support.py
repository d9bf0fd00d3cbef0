"""Schemathesis against a service under test, the same way for every service.

Every operation of the OpenAPI schema the running app serves is called with the cases
schemathesis derives from it (positive cases, and negative ones where there is a body to
break). Whatever is sent, the service never answers 5xx, every 4xx is an
application/problem+json body with a `code` and a `detail`, and every answer conforms to the
schema: a documented status, the documented media type, body and headers.

The app runs on the test's event loop (its database engine, Kafka clients and token verifier
belong to it); Hypothesis runs in a worker thread and hands each request to that loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, cast

import httpx
import jwt
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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
NEGATIVE = settings(FUZZ, max_examples=25)
FEW = settings(FUZZ, max_examples=10)
PROBE = settings(FUZZ, max_examples=3)
"""Enough to see that a route refuses a bad token: the token is checked before anything else."""

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
"""What every answer is checked against: the schema says what the service answers."""

Check = Callable[[Operation, httpx.Response, str], None]
Headers = Callable[[Operation], Mapping[str, str | None]]
"""The headers to send with an operation's cases; None removes a header the case would send."""


def request_of(
    case: Case, base_url: str, headers: Mapping[str, str | None]
) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """Method, URL, headers and httpx body arguments of a schemathesis case."""
    # A None value stays in the merged headers, and is dropped below.
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=cast(dict[str, str], headers))
    sent_headers = {k: v for k, v in kwargs["headers"].items() if v is not None}
    if isinstance(case.body, str) and case.media_type and case.media_type.endswith("+xml"):
        # An XML body as the document itself (schemathesis would wrap a string in <data>).
        body: dict[str, Any] = {"content": case.body.encode()}
    elif "json" in kwargs:
        body = {"json": kwargs["json"]}
    elif "data" in kwargs:
        data = kwargs["data"]
        body = {"data": data} if isinstance(data, dict) else {"content": _bytes(data)}
    else:
        body = {}
    assert not kwargs.get("cookies"), "no service declares cookies"
    return kwargs["method"], kwargs["url"], sent_headers, body


def _bytes(data: Any) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def check_answer(answer: httpx.Response, where: str) -> None:
    """No 5xx; every 4xx is problem+json with a code and a detail."""
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text}"
    if 400 <= answer.status_code < 500:
        assert answer.headers["content-type"] == PROBLEM_JSON, f"{where}: {answer.headers}"
        problem = answer.json()
        assert isinstance(problem.get("code"), str) and problem["code"], f"{where}: {problem}"
        assert isinstance(problem.get("detail"), str) and problem["detail"], f"{where}: {problem}"
        assert problem["status"] == answer.status_code, f"{where}: {problem}"


async def fuzz(
    http: httpx.AsyncClient,
    schema: schemathesis.BaseSchema,
    mode: GenerationMode,
    headers: Headers,
    check: Check,
    config: settings,
) -> dict[str, list[int]]:
    """Run Hypothesis over every operation in a worker thread; the statuses seen per operation.

    Requests go to the app on this event loop, which keeps serving while Hypothesis waits.
    """
    loop = asyncio.get_running_loop()

    def each_operation() -> dict[str, list[int]]:
        statuses: dict[str, list[int]] = {}
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            if mode is GenerationMode.NEGATIVE and not operation.body:
                continue  # a body-less operation of string path parameters has nothing to break
            statuses[operation.label] = _fuzz_one(
                loop, http, operation, mode, headers(operation), check, config
            )
        return statuses

    return await asyncio.to_thread(each_operation)


def _fuzz_one(
    loop: asyncio.AbstractEventLoop,
    http: httpx.AsyncClient,
    operation: Operation,
    mode: GenerationMode,
    headers: Mapping[str, str | None],
    check: Check,
    config: settings,
) -> list[int]:
    seen: list[int] = []

    @config
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Case) -> None:
        method, url, sent, body = request_of(case, str(http.base_url), headers)
        request = http.request(method, url, headers=sent, timeout=REQUEST_TIMEOUT, **body)
        future = asyncio.run_coroutine_threadsafe(_bounded(request), loop)
        answer = future.result(timeout=REQUEST_TIMEOUT + 5)
        seen.append(answer.status_code)
        where = f"{method} {url} {body!r:.300}"
        check_answer(answer, where)
        case.validate_response(answer, checks=CONFORMANCE, headers=sent)
        check(operation, answer, where)

    call()
    return seen


async def _bounded(request: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        return await request


def bad_tokens(valid: str, registry_key: Ed25519PrivateKey) -> dict[str, dict[str, str | None]]:
    """No token, and tokens every service must refuse (401) before reading anything else."""
    header, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = jwt.get_unverified_header(valid)["kid"]
    jose = {"kid": kid, "typ": "at+jwt"}
    impersonating = base64.urlsafe_b64encode(
        json.dumps(claims | {"sender": "meldkamer@vrzl.example.org", "regions": ["NL"]}).encode()
    ).rstrip(b"=")
    hour_ago = int(time.time()) - 3600

    def signed(key: Ed25519PrivateKey | None, **changes: Any) -> dict[str, str | None]:
        fresh = claims | {"jti": str(uuid.uuid4())} | changes
        if key is None:
            token = jwt.encode(fresh, "", algorithm="none", headers=jose)
        else:
            token = jwt.encode(fresh, key, algorithm="EdDSA", headers=jose)
        return {"Authorization": f"Bearer {token}"}

    return {
        # Removed, not only left out: the schema's security scheme would have one generated.
        "none": {"Authorization": None},
        "not_a_jwt": {"Authorization": "Bearer not-a-token"},
        "basic": {"Authorization": "Basic bGllZ2Utc3lzdGVtOmxpZWdlLXNlY3JldC0xMjM="},
        "tampered": {"Authorization": f"Bearer {header}.{impersonating.decode()}.{signature}"},
        "foreign_key": signed(Ed25519PrivateKey.generate()),
        "alg_none": signed(None),
        "expired": signed(registry_key, iat=hour_ago - 300, exp=hour_ago),
        "other_issuer": signed(registry_key, iss="someone-else"),
        "other_audience": signed(registry_key, aud=["urn:crossalert:elsewhere"]),
    }


BAD_TOKENS = (
    "none",
    "not_a_jwt",
    "basic",
    "tampered",
    "foreign_key",
    "alg_none",
    "expired",
    "other_issuer",
    "other_audience",
)

EXPECTED_CODES = {"none": "missing_token", "basic": "missing_token", "expired": "expired_token"}
"""The problem code of a refused bad token, by variant (invalid_token otherwise)."""


def refused_without_a_valid_token(protected: Callable[[Operation], bool], variant: str) -> Check:
    """A check: protected operations answer 401 (or 404 before any token is looked at)."""

    def refused(operation: Operation, answer: httpx.Response, where: str) -> None:
        if not protected(operation):
            return
        # A path parameter holding "/" leaves the route (404) before any token is looked at.
        assert answer.status_code in (401, 404), f"{where}: {answer.status_code} {answer.text}"
        if answer.status_code == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer"), where
            expected = EXPECTED_CODES.get(variant, "invalid_token")
            assert answer.json()["code"] == expected, where

    return refused


def authenticated(protected: Callable[[Operation], bool]) -> Check:
    """A check: on protected operations, a valid token with their scopes is never refused."""

    def accepted(operation: Operation, answer: httpx.Response, where: str) -> None:
        # A negative case may leave the token out, as the schema's security scheme allows.
        if not protected(operation) or "authorization" not in answer.request.headers:
            return
        assert answer.status_code != 401, f"{where}: a valid token was refused: {answer.text}"
        if answer.status_code == 403:
            assert answer.json()["code"] != "insufficient_scope", where

    return accepted
