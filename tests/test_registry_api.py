"""The registry's records API, on SQLite and PostgreSQL: validation, versions, integrity, paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from registry_support import Registry, database_for, running_registry

from services.localnet import postgres

ADMIN = ("admin", "admin-secret-123")
READER = ("reader", "reader-secret-123")

NEW_ORG = {
    "id": "be-namur",
    "name": "Namur governor's crisis unit",
    "kind": "civil_protection",
    "home_region": "BE3",
    "acts_for": ["BE3"],
    "cap_sender": "crisis@namur.example.org",
    "languages": ["fr"],
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def registry(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: postgres.PostgresServer
) -> AsyncIterator[Registry]:
    async with (
        database_for(request.param, postgres_server, tmp_path) as url,
        running_registry(url, tmp_path) as registry,
    ):
        yield registry


async def admin(registry: Registry) -> dict[str, str]:
    return await registry.auth(*ADMIN)


async def test_create_read_replace_delete_with_versions(registry: Registry) -> None:
    headers = await admin(registry)

    created = await registry.http.post("/v1/organisations", json=NEW_ORG, headers=headers)
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == "/v1/organisations/be-namur"

    read = await registry.http.get("/v1/organisations/be-namur", headers=headers)
    defaults = {
        "single_approval": [],
        "alert_templates": [],
        "cap_mode": "strict",
        "signature_policy": "verify-if-present",
        "signing_keys": [],
    }
    assert read.json() == {**NEW_ORG, **defaults, "max_cap_bytes": None, "version": 1}

    renamed = {**NEW_ORG, "name": "Province de Namur – cellule de crise"}
    replaced = await registry.http.put(
        "/v1/organisations/be-namur", json=renamed, headers=headers | {"If-Match": '"1"'}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    assert replaced.headers["ETag"] == '"2"'

    deleted = await registry.http.delete(
        "/v1/organisations/be-namur", headers=headers | {"If-Match": '"2"'}
    )
    assert deleted.status_code == 204
    gone = await registry.http.get("/v1/organisations/be-namur", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"


async def test_a_stale_update_gets_412_and_changes_nothing(registry: Registry) -> None:
    headers = await admin(registry)
    current = (await registry.http.get("/v1/regions/BE33", headers=headers)).json()
    first = {k: v for k, v in current.items() if k != "version"} | {"basins": ["Meuse", "Ourthe"]}
    second = {k: v for k, v in current.items() if k != "version"} | {"basins": ["Vesdre"]}

    ok = await registry.http.put(
        "/v1/regions/BE33", json=first, headers=headers | {"If-Match": '"1"'}
    )
    stale = await registry.http.put(
        "/v1/regions/BE33", json=second, headers=headers | {"If-Match": '"1"'}
    )
    missing = await registry.http.put("/v1/regions/BE33", json=second, headers=headers)

    assert ok.status_code == 200
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    assert stale.json()["current_version"] == 2
    assert missing.status_code == 428
    stored = (await registry.http.get("/v1/regions/BE33", headers=headers)).json()
    assert stored["basins"] == ["Meuse", "Ourthe"]


async def test_deleting_a_referenced_organisation_lists_the_referrers(registry: Registry) -> None:
    headers = await admin(registry)

    refused = await registry.http.delete("/v1/organisations/be-aviq", headers=headers)

    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "still_referenced"
    assert body["referenced_by"] == [
        "agreements/euregio-health",
        "api_clients/aviq-system",
        "contact_points/be-aviq-health",
    ]
    still = await registry.http.get("/v1/organisations/be-aviq", headers=headers)
    assert still.status_code == 200


@pytest.mark.parametrize(
    ("path", "change", "field", "value"),
    [
        ("organisations", {"home_region": "XX9"}, "home_region", "XX9"),
        ("organisations", {"acts_for": ["BE3", "ZZ1"]}, "acts_for[1]", "ZZ1"),
        ("organisations", {"languages": ["fr", "it"]}, "languages[1]", "it"),
        ("organisations", {"kind": "army"}, "kind", "army"),
        ("organisations", {"cap_sender": "two words"}, "cap_sender", "two words"),
        ("organisations", {"id": "Not A Slug"}, "id", "Not A Slug"),
    ],
)
async def test_unknown_values_get_422_naming_the_value(
    registry: Registry, path: str, change: dict[str, Any], field: str, value: str
) -> None:
    headers = await admin(registry)

    refused = await registry.http.post(f"/v1/{path}", json=NEW_ORG | change, headers=headers)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["field"] == field
    assert value in body["detail"] or value in str(body.get("errors"))
    listing = await registry.http.get("/v1/organisations", headers=headers)
    assert "be-namur" not in [o["id"] for o in listing.json()["items"]]


async def test_unknown_category_in_a_contact_point_gets_422(registry: Registry) -> None:
    headers = await admin(registry)
    contact = {
        "id": "be-aviq-second",
        "organisation": "be-aviq",
        "function": "liaison_officer",
        "name": "AViQ liaison",
        "competences": [{"category": "Weather"}],
    }

    refused = await registry.http.post("/v1/contact-points", json=contact, headers=headers)

    assert refused.status_code == 422
    assert refused.json()["field"] == "competences[0].category"
    assert "Weather" in refused.json()["detail"]


async def test_duplicates_are_refused_with_409(registry: Registry) -> None:
    headers = await admin(registry)
    await registry.http.post("/v1/organisations", json=NEW_ORG, headers=headers)

    same_id = await registry.http.post("/v1/organisations", json=NEW_ORG, headers=headers)
    same_sender = await registry.http.post(
        "/v1/organisations", json=NEW_ORG | {"id": "be-namur-2"}, headers=headers
    )

    assert same_id.status_code == 409
    assert same_id.json()["code"] == "already_exists"
    assert same_sender.status_code == 409
    assert same_sender.json()["code"] == "conflict"


async def test_listing_filters_and_pages(registry: Registry) -> None:
    headers = await registry.auth(*READER)

    belgian = (await registry.http.get("/v1/regions?country=BE", headers=headers)).json()
    page = (await registry.http.get("/v1/regions?limit=5&offset=5", headers=headers)).json()
    meuse = (await registry.http.get("/v1/regions?basin=Meuse&level=2", headers=headers)).json()
    health = (await registry.http.get("/v1/agreements?category=Health", headers=headers)).json()
    bad = await registry.http.get("/v1/regions?colour=red", headers=headers)

    assert [r["code"] for r in belgian["items"]] == ["BE", "BE3", "BE33", "BE336", "BE34"]
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (16, 5, 5, 5)
    assert [r["code"] for r in meuse["items"]] == ["BE33", "BE34", "FRF3", "NL42"]
    assert [a["id"] for a in health["items"]] == ["benelux-nrw", "euregio-health"]
    assert bad.status_code == 422
    assert bad.json()["field"] == "colour"


async def test_secrets_are_never_returned(registry: Registry) -> None:
    headers = await admin(registry)

    clients = await registry.http.get("/v1/api-clients", headers=headers)
    users = await registry.http.get("/v1/console-users", headers=headers)

    assert "secret" not in clients.text and "secret_hash" not in clients.text
    assert "password" not in users.text


async def test_reading_needs_a_token_and_writing_needs_admin(registry: Registry) -> None:
    anonymous = await registry.http.get("/v1/regions")
    reader = await registry.auth(*READER)
    write = await registry.http.post("/v1/organisations", json=NEW_ORG, headers=reader)

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "missing_token"
    assert write.status_code == 403
    assert write.json()["code"] == "insufficient_scope"
    assert "registry:admin" in write.json()["detail"]


async def test_an_officer_is_never_bound_to_another_organisations_contact_point(
    registry: Registry,
) -> None:
    headers = await admin(registry)
    intruder = {
        "username": "officer.intruder",
        "organisation": "be-liege",
        "contact_point": "nl-limburg-duty",
        "display_name": "Not from Limburg",
        "password": "a-long-passphrase-1",
    }

    created = await registry.http.post("/v1/console-users", json=intruder, headers=headers)
    liege = await registry.http.get("/v1/console-users/officer.liege", headers=headers)
    moved = {k: v for k, v in liege.json().items() if k != "version"}
    replaced = await registry.http.put(
        "/v1/console-users/officer.liege",
        json=moved | {"contact_point": "nl-limburg-duty"},
        headers=headers | {"If-Match": liege.headers["ETag"]},
    )

    for refused in (created, replaced):
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "foreign_contact_point"
        assert refused.json()["field"] == "contact_point"
    assert (
        await registry.http.get("/v1/console-users/officer.intruder", headers=headers)
    ).status_code == 404
    unchanged = await registry.http.get("/v1/console-users/officer.liege", headers=headers)
    assert unchanged.json() == liege.json()


async def test_a_contact_point_does_not_change_organisation_under_its_officers(
    registry: Registry,
) -> None:
    headers = await admin(registry)
    desk = await registry.http.get("/v1/contact-points/be-liege-duty", headers=headers)
    body = {k: v for k, v in desk.json().items() if k != "version"}

    moved = await registry.http.put(
        "/v1/contact-points/be-liege-duty",
        json=body | {"organisation": "be-eupen"},
        headers=headers | {"If-Match": desk.headers["ETag"]},
    )

    assert moved.status_code == 409, moved.text
    assert moved.json()["code"] == "contact_point_in_use"
    assert "officer.liege" in moved.json()["detail"]


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/api-clients", {"secret_hash": "$argon2id$v=19$m=65536,t=3,p=4$forged"}),
        ("/v1/console-users", {"password_hash": "$argon2id$v=19$m=65536,t=3,p=4$forged"}),
        ("/v1/console-users", {"version": 99}),
        ("/v1/organisations", {"scopes": ["registry:admin"]}),
    ],
)
async def test_fields_a_record_does_not_have_are_refused_not_assigned(
    registry: Registry, path: str, extra: dict[str, Any]
) -> None:
    headers = await admin(registry)
    bodies: dict[str, dict[str, Any]] = {
        "/v1/api-clients": {"client_id": "be-namur-system", "organisation": "be-nccn",
                            "secret": "a-long-secret-123", "scopes": ["alerts:read"]},
        "/v1/console-users": {"username": "officer.namur", "organisation": "be-nccn",
                              "contact_point": "be-nccn-duty", "display_name": "Namur",
                              "password": "a-long-passphrase-1"},
        "/v1/organisations": NEW_ORG,
    }  # fmt: skip

    refused = await registry.http.post(path, json=bodies[path] | extra, headers=headers)

    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == next(iter(extra))
    key = next(iter(bodies[path].values()))
    assert (await registry.http.get(f"{path}/{key}", headers=headers)).status_code == 404
