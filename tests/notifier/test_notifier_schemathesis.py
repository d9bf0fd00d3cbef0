"""Schemathesis over the notifier's OpenAPI schema, against the real notifier, registry and broker.

The harness is tests/schemathesis_support.py: no 5xx whatever is sent, every 4xx a problem
document, every answer as the schema says. The officer's routes are called with a duty
officer's token, the login routes with none; then every protected route with bad tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from notifier_support import Network, login, network_on
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

from services.registry.identity import load_or_create_signing_key

ANONYMOUS = (
    "/v1/login", "/v1/refresh", "/v1/logout", "/healthz", "/readyz",
    "/feeds/alerts.atom", "/feeds/cap/{sender}/{identifier}.xml",
)  # fmt: skip
PLANNERS = {("POST", "/v1/exercise-reports"), ("GET", "/v1/exercise-runs/{run_id}/deliveries")}
"""An exercise planner's routes (exercises:plan): called with the planner's token."""


@dataclass
class World:
    network: Network
    officer: str
    planner: str
    registry_key: Ed25519PrivateKey
    schema: schemathesis.BaseSchema

    def headers(self, operation: Operation) -> dict[str, str]:
        """An officer's token where the operation needs one (a planner's on its routes)."""
        if operation.path in ANONYMOUS:
            return {}
        planning = (operation.method.upper(), operation.path) in PLANNERS
        return {"Authorization": f"Bearer {self.planner if planning else self.officer}"}


def protected(operation: Operation) -> bool:
    return operation.path not in ANONYMOUS


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[World]:
    state = tmp_path_factory.mktemp("notifier-schemathesis")
    async with network_on(state, kafka_bootstrap) as network:
        served = await network.notifier.http.get("/openapi.json")
        assert served.status_code == 200
        officer = await login(network.notifier.http, "officer.eupen")
        planner = await network.registry.token("planner", "planner-secret-123")
        key = load_or_create_signing_key(state / "signing-key.pem")
        yield World(network, officer, planner, key, schemathesis.openapi.from_dict(served.json()))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
async def test_with_an_officers_token_no_call_gets_a_server_error_or_an_undocumented_answer(
    world: World, mode: GenerationMode
) -> None:
    config = NEGATIVE if mode is GenerationMode.NEGATIVE else FUZZ
    http = world.network.notifier.http

    statuses = await fuzz(http, world.schema, mode, world.headers, authenticated(protected), config)

    assert all(statuses.values()), statuses
    if mode is GenerationMode.POSITIVE:
        acknowledging = statuses["POST /v1/alerts/{sender}/{identifier}/acknowledgements"]
        assert 404 in acknowledging, acknowledging


@pytest.mark.parametrize("variant", list(BAD_TOKENS))
async def test_without_a_valid_token_protected_calls_get_401_and_nothing_breaks(
    world: World, variant: str
) -> None:
    headers = bad_tokens(world.officer, world.registry_key)[variant]
    refused = refused_without_a_valid_token(protected, variant)
    http = world.network.notifier.http

    statuses = await fuzz(
        http, world.schema, GenerationMode.POSITIVE, lambda _: headers, refused, PROBE
    )

    assert 401 in statuses["GET /v1/alerts/{sender}/{identifier}/deliveries"]
