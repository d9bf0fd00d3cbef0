"""Schemathesis over the registry's OpenAPI schema, against the real registry.

The harness is tests/schemathesis_support.py: no 5xx whatever is sent, every 4xx a problem
document, every answer as the schema says. Each operation is called with the token its scopes
ask for (records: the administrator; routing: the network's resolver; identity: none), then
with no token and with bad ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from registry_support import Registry, running_registry
from schemathesis import GenerationMode
from schemathesis_support import (
    BAD_TOKENS,
    FUZZ,
    NEGATIVE,
    PROBE,
    Operation,
    authenticated,
    bad_tokens,
    fuzz,
    refused_without_a_valid_token,
)

from services.common.ratelimit import Rate
from services.registry.credentials import Throttles
from services.registry.identity import load_or_create_signing_key

ANONYMOUS = ("/v1/oauth/token", "/v1/login", "/v1/logout", "/.well-known/jwks.json", "/healthz",
             "/readyz")  # fmt: skip
# The fuzzing is meant to reach the credentials' checks, not the throttles.
LAX = Throttles(
    per_address=Rate(burst=100_000, every_seconds=1),
    per_account_at_address=Rate(burst=100_000, every_seconds=1),
    per_account=Rate(burst=100_000, every_seconds=1),
)


@dataclass
class World:
    registry: Registry
    tokens: dict[str, str]
    registry_key: Ed25519PrivateKey
    schema: schemathesis.BaseSchema

    def headers(self, operation: Operation) -> dict[str, str]:
        """The token this operation's scopes ask for."""
        if operation.path in ANONYMOUS:
            return {}
        if operation.path == "/v1/routing":
            token = self.tokens["resolver"]
        elif operation.path.startswith("/v1/threshold-rules"):
            token = self.tokens["agency"]
        else:
            token = self.tokens["admin"]
        return {"Authorization": f"Bearer {token}"}


def protected(operation: Operation) -> bool:
    return operation.path not in ANONYMOUS


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    state = tmp_path_factory.mktemp("registry-schemathesis")
    async with running_registry(
        f"sqlite+aiosqlite:///{state / 'r.sqlite3'}", state, throttles=LAX
    ) as registry:
        served = await registry.http.get("/openapi.json")
        assert served.status_code == 200
        tokens = {
            "admin": await registry.token("admin", "admin-secret-123"),
            "resolver": await registry.token("notifier", "notifier-secret-123"),
            "agency": await registry.token("aviq-system", "aviq-secret-123"),
        }
        key = load_or_create_signing_key(state / "signing-key.pem")
        yield World(registry, tokens, key, schemathesis.openapi.from_dict(served.json()))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
async def test_with_the_right_token_no_call_gets_a_server_error_or_an_undocumented_answer(
    world: World, mode: GenerationMode
) -> None:
    # The registry has many operations, its writes hash secrets: fewer cases each than FUZZ,
    # except where valid bodies are rare and the success path must be reached (routing).
    config = FUZZ if mode is GenerationMode.POSITIVE else NEGATIVE

    statuses = await fuzz(
        world.registry.http, world.schema, mode, world.headers, authenticated(protected), config
    )

    assert all(statuses.values()), statuses
    if mode is GenerationMode.POSITIVE:
        assert 200 in statuses["POST /v1/routing"], statuses["POST /v1/routing"]
        assert 200 in statuses["GET /v1/regions"]


@pytest.mark.parametrize("variant", list(BAD_TOKENS))
async def test_without_a_valid_token_protected_calls_get_401_and_nothing_breaks(
    world: World, variant: str
) -> None:
    headers = bad_tokens(world.tokens["admin"], world.registry_key)[variant]
    refused = refused_without_a_valid_token(protected, variant)

    http, schema = world.registry.http, world.schema
    statuses = await fuzz(http, schema, GenerationMode.POSITIVE, lambda _: headers, refused, PROBE)

    assert 401 in statuses["GET /v1/regions"]
    assert 401 in statuses["POST /v1/routing"]
