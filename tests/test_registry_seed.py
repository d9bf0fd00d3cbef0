"""The network's seed file loads into both databases, and loading it again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_support import database_for, running_registry

from schemas.registry import RoutingRequest
from services.localnet import postgres
from services.registry.cli import seed_database
from services.registry.seed import DEFAULT_SEED, SeedError, read_seed


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_network_seed_loads_idempotently(
    kind: str, tmp_path: Path, postgres_server: postgres.PostgresServer
) -> None:
    document = read_seed(DEFAULT_SEED)
    total = sum(len(section) for section in document.values())

    async with database_for(kind, postgres_server, tmp_path) as url:
        first = await seed_database(url, DEFAULT_SEED)
        second = await seed_database(url, DEFAULT_SEED)
        async with running_registry(url, tmp_path, seed=None) as registry:
            headers = await registry.auth("registry-admin", "demo-secret-registry-admin")
            regions = await registry.http.get("/v1/regions?limit=1", headers=headers)
            login = await registry.http.post(
                "/v1/login", json={"username": "officer.liege", "password": "demo-liege-1"}
            )
            # The OpenAPI page's routing example, as the network and as Liège's system ask it.
            example = RoutingRequest.model_json_schema()["examples"][0]
            routed = [
                await registry.http.post("/v1/routing", json=example, headers=headers)
                for headers in (
                    await registry.auth("svc-notifier", "demo-secret-svc-notifier"),
                    await registry.auth(
                        "be-liege-governor-system", "demo-secret-be-liege-governor"
                    ),
                )
            ]

    assert first == {"created": total}
    assert second == {"unchanged": total}
    assert regions.json()["total"] == len(document["regions"])
    assert login.status_code == 200
    for answer in routed:
        assert answer.status_code == 200, answer.text
        assert answer.json()["recipients"]


async def test_a_broken_seed_names_the_entry(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "regions:\n  - {code: BE, country: BE, level: 0}\n"
        "organisations:\n  - {id: x-org, name: X, kind: crisis_centre, home_region: XX,"
        " cap_sender: x@example.org}\n",
        encoding="utf-8",
    )

    with pytest.raises(SeedError, match=r"organisations\[0\].*home_region"):
        await seed_database(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", broken)
